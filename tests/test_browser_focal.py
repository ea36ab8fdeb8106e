"""A focal point opens their link on a phone, in Debian's chromium, and answers.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on; Playwright drives the browser with JavaScript off, as the page needs none.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.extensions import db
from app.models import Service
from app.services import focal_points, sla_clock
from tests.browser import WIDER_THAN_SCREEN, browser_app, chromium, no_js_phone, serving
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Served:
    url: str
    link: str
    reference: str


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path)
    # The link is made with the server's own address, so it is known first.
    with serving(app) as url:
        app.config["PUBLIC_BASE_URL"] = url
        with app.app_context():
            service = Service(key="pensions", name="Direction des pensions")
            ticket = make_ticket(
                make_caller(CALLER),
                line=LINE,
                category="pension",
                service=service,
                description="Ma pension de mars n'est pas arrivée. " * 6,
            )
            sla_clock.start(ticket)  # the dues the page shows
            focal_point, _ = focal_points.save_focal_point(
                service, "Adjoa Mensah", "+2290197554433", None, head=False
            )
            db.session.flush()
            link = focal_points.create_link(focal_point, ticket)
            db.session.commit()
            reference = ticket.display_reference
            db.session.remove()
        yield Served(url, link, reference)


def test_a_focal_point_answers_from_a_phone(served, tmp_path):
    with chromium() as browser:
        page = no_js_phone(browser)
        response = page.goto(served.link)
        assert response is not None
        assert response.status == 200
        assert response.headers["referrer-policy"] == "no-referrer"
        assert served.reference in page.inner_text("h1")
        assert not page.evaluate(WIDER_THAN_SCREEN)
        page.screenshot(path=str(tmp_path / "focal-360.png"), full_page=True)

        # The real form, its CSRF token included: a note, then the answer.
        page.fill("textarea[name=note-text]", "Dossier reçu, je vérifie.")
        page.click("form[action$='/note'] button")
        assert "Votre note a été ajoutée." in page.inner_text("main")
        assert "Dossier reçu, je vérifie." in page.inner_text(".history")
        page.fill("textarea[name=resolve-text]", "Virement fait le 3 avril.")
        page.click("form[action$='/resolve'] button")
        assert "Résolu" in page.inner_text("dl")
        assert page.locator("form[action$='/resolve']").count() == 0

        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(tmp_path / "focal-1280.png"), full_page=True)
