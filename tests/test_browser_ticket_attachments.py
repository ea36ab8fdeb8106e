"""The citizen's files on the ticket page in Debian's chromium (issue #14): a
request filed by e-mail with a pay slip and a photo; the agent sees both, at
1280 and 390 px wide, and a click saves the pay slip under its own name with
its own bytes. Screenshots go to the test's tmp_path (run with --basetemp to
keep them)."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Role, Service, TicketEvent
from tests.browser import (
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    serving,
    sign_in,
    watched_page,
)
from tests.conftest import LINE
from tests.factories import make_ticket, make_user, stored_attachment

pytestmark = pytest.mark.browser

SLIP_NAME = "Bulletin de salaire – décembre 2025 (Adjoa Mensah).pdf"  # noqa: RUF001
SLIP = b"%PDF-1.4\n" + b"s" * 48_000
PHOTO = b"\xff\xd8\xff\xe0" + b"p" * (2 * 1024 * 1024)


@dataclass(frozen=True)
class Served:
    url: str
    app: object
    reference: str
    slip_id: int


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path)
    with app.app_context():
        salaries = Service(key="salaries", name="Salaires")
        db.session.add(salaries)
        agent = make_user("awa@example.org", Role.AGENT)
        agent.services.append(salaries)
        ticket = make_ticket(
            None,
            line=LINE,
            channel="email",
            category="salary",
            service=salaries,
            contact_email="adjoa.mensah@example.org",
            description="Mon salaire de décembre est incomplet : voici mon bulletin.",
        )
        slip = stored_attachment(ticket.id, SLIP_NAME, SLIP)
        stored_attachment(ticket.id, "photo-guichet.jpg", PHOTO, "image/jpeg")
        served = Served("", app, ticket.display_reference, slip.id)
    with serving(app) as url:
        yield Served(url, app, served.reference, served.slip_id)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_agent_sees_the_files_and_saves_one(served, tmp_path, width):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(
            browser,
            errors,
            locale="fr-FR",
            viewport={"width": width, "height": 900},
            accept_downloads=True,
        )
        sign_in(page, served.url, "awa@example.org")
        page.goto(f"{served.url}/tickets/{served.reference}")
        files = page.locator("section.ticket-files")
        assert files.locator("h2").inner_text() == "Pièces jointes (2)"
        names = files.locator("tbody th").all_inner_texts()
        assert names == [SLIP_NAME, "photo-guichet.jpg"]
        assert files.locator("tbody tr").first.locator("td").all_inner_texts()[:2] == [
            "PDF",
            "46,9\u202fko",
        ]
        assert not page.evaluate(WIDER_THAN_SCREEN)
        # The caption spans the table (as a phone's cards, it once was a word wide).
        caption = files.locator("caption").bounding_box()["width"]
        assert caption > 0.9 * files.locator("table").bounding_box()["width"]
        # On a phone, the files come before the actions.
        files_top = files.bounding_box()["y"]
        actions_top = page.locator("section.ticket-actions").bounding_box()["y"]
        if width == 390:
            assert files_top < actions_top
        page.screenshot(path=str(tmp_path / f"attachments-{width}.png"), full_page=True)
        files.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / f"attachments-{width}-files.png"))

        with page.expect_download() as event:
            files.get_by_role("link", name=SLIP_NAME).click()
        download = event.value
        assert download.suggested_filename == SLIP_NAME
        assert download.path().read_bytes() == SLIP
    assert errors == []
    with served.app.app_context():
        downloads = db.session.scalars(
            select(TicketEvent.detail).filter_by(action="attachment_downloaded")
        ).all()
    assert downloads == [{"attachment_id": served.slip_id, "filename": SLIP_NAME}]
