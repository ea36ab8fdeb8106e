"""In Debian's chromium: a request typed on a page whose token went stale comes
back after the error and is sent; the error pages as a person sees them.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on; screenshots at 1280 and 390 px wide are saved to the test's tmp_path.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from app.extensions import db
from app.models import Ticket
from tests.browser import (
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    new_page,
    serving,
)
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)
NOTE = (
    "Mme Houngbo est passée au guichet : sa pension de mars n'est pas arrivée.\n"
    "Elle a laissé une copie de son titre de pension."
)


@dataclass(frozen=True)
class Served:
    url: str
    app: object
    email: str


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path)
    with app.app_context():
        email = make_user("agent@example.org").email
        db.session.remove()
    with serving(app) as url:
        yield Served(url, app, email)


def shoot(page: Page, folder: Path, name: str) -> None:
    """The page at each width, whole, saved in the test's tmp_path; at none
    of them is the page wider than the screen."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        path = folder / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        assert not page.evaluate(WIDER_THAN_SCREEN), f"{name} overflows at {width}"
    page.set_viewport_size({"width": 1280, "height": 900})


def sign_in_in_french(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/login?lang=fr")
    page.get_by_label("Courriel").fill(served.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{served.url}/")


def test_a_stale_token_keeps_the_typed_request(served, tmp_path):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in_in_french(page, served)
        page.goto(f"{served.url}/tickets/new")
        form = page.locator("form[action='/tickets/new']")
        form.get_by_label("Téléphone").fill("0197000000")
        form.get_by_label("Catégorie").select_option("pension")
        form.get_by_label("Demande").fill(NOTE)
        # Meanwhile the session ends and the agent signs in again in
        # another tab: this page's token belongs to the old session.
        context.clear_cookies()
        other = context.new_page()
        sign_in_in_french(other, served)
        other.close()
        form.get_by_role("button", name="Enregistrer").click()

        page.get_by_role("heading", name="Renvoyer le formulaire").wait_for()
        assert "Cette page avait expiré" in page.inner_text("main")
        assert page.get_by_label("Demande").input_value() == NOTE
        shoot(page, tmp_path, "resend")
        page.get_by_role("button", name="Envoyer à nouveau").click()
        page.wait_for_url(f"{served.url}/?q=*")
        assert "Demande enregistrée" in page.inner_text("main")
    with served.app.app_context():
        tickets = db.session.scalars(select(Ticket)).all()
        # A browser sends a textarea's lines with CRLF.
        assert [t.description.replace("\r\n", "\n") for t in tickets] == [NOTE]
        db.session.remove()


def test_error_pages_as_a_person_sees_them(served, tmp_path):
    with chromium() as browser:
        page = new_page(browser, viewport={"width": 1280, "height": 900})
        sign_in_in_french(page, served)
        response = page.goto(f"{served.url}/no/such/page")
        assert response.status == 404
        assert page.locator("h1").all_inner_texts() == ["Page introuvable"]
        shoot(page, tmp_path, "error-404")
        response = page.goto(f"{served.url}/softphone/supervision?lang=en")
        assert response.status == 403
        assert page.locator("h1").all_inner_texts() == ["You may not open this page"]
        shoot(page, tmp_path, "error-403")
        page.get_by_role("link", name="Back to the tickets").click()
        page.wait_for_url(f"{served.url}/")
