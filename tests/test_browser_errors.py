"""In Debian's chromium: a request typed on a page whose token went stale comes
back after the error and is sent; the error pages as a person sees them.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on; screenshots at 1280 and 390 px wide are saved to the test's tmp_path.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import Ticket
from config import TestingConfig
from tests.conftest import FakeGateway, service_required
from tests.factories import PASSWORD, make_user
from tests.test_browser_recordings import CHROMIUM, CHROMIUM_ARGS, WAIT_MS

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
    if not CHROMIUM.exists():
        service_required("Debian chromium")

    class BrowserConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'ecoute.sqlite3'}"
        RECORDINGS_DIR = str(tmp_path / "recordings")
        WTF_CSRF_ENABLED = True

    app = create_app(BrowserConfig)
    app.instance_path = str(tmp_path / "instance")
    app.extensions["twilio"] = FakeGateway()
    with app.app_context():
        db.create_all()
        email = make_user("agent@example.org").email
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", app, email)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def shoot(page: Page, folder: Path, name: str) -> None:
    """The page at each width, whole, saved in the test's tmp_path."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        path = folder / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def sign_in(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/login?lang=fr")
    page.get_by_label("Courriel").fill(served.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{served.url}/")


def test_a_stale_token_keeps_the_typed_request(served, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(WAIT_MS)
            page = context.new_page()
            sign_in(page, served)
            form = page.locator("form[action='/tickets']")
            form.get_by_label("Téléphone").fill("0197000000")
            form.get_by_label("Demande").fill(NOTE)
            # Meanwhile the session ends and the agent signs in again in
            # another tab: this page's token belongs to the old session.
            context.clear_cookies()
            other = context.new_page()
            sign_in(other, served)
            other.close()
            form.get_by_role("button", name="Enregistrer").click()

            page.get_by_role("heading", name="Renvoyer le formulaire").wait_for()
            assert "Cette page avait expiré" in page.inner_text("main")
            assert page.get_by_label("Demande").input_value() == NOTE
            shoot(page, tmp_path, "resend")
            page.get_by_role("button", name="Envoyer à nouveau").click()
            page.wait_for_url(f"{served.url}/?q=*")
            assert "Demande enregistrée" in page.inner_text("main")
        finally:
            browser.close()
    with served.app.app_context():
        tickets = db.session.scalars(select(Ticket)).all()
        # A browser sends a textarea's lines with CRLF.
        assert [t.description.replace("\r\n", "\n") for t in tickets] == [NOTE]
        db.session.remove()


def test_error_pages_as_a_person_sees_them(served, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            sign_in(page, served)
            response = page.goto(f"{served.url}/no/such/page")
            assert response.status == 404
            assert page.locator("h1").all_inner_texts() == ["Page introuvable"]
            shoot(page, tmp_path, "error-404")
            response = page.goto(f"{served.url}/softphone/supervision?lang=en")
            assert response.status == 403
            assert page.locator("h1").all_inner_texts() == [
                "You may not open this page"
            ]
            shoot(page, tmp_path, "error-403")
            page.get_by_role("link", name="Back to the tickets").click()
            page.wait_for_url(f"{served.url}/")
        finally:
            browser.close()
