"""An admin, in Debian's chromium, creates a user and adds a focal point.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on and htmx loaded; Playwright types and clicks as a person would. Screenshots
at 1280 and 390 px wide are saved under tmp_path.
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
from app.models import FocalPoint, Role, Service, User
from config import TestingConfig
from tests.conftest import FakeGateway, service_required
from tests.factories import PASSWORD, make_user
from tests.test_browser_recordings import CHROMIUM, CHROMIUM_ARGS, WAIT_MS

pytestmark = pytest.mark.browser

WIDER_THAN_SCREEN = "() => document.documentElement.scrollWidth > window.innerWidth"


@dataclass(frozen=True)
class Served:
    url: str
    app: object
    admin: str


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    if not CHROMIUM.exists():
        service_required("Debian chromium")

    class BrowserConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'ecoute.sqlite3'}"
        WTF_CSRF_ENABLED = True

    app = create_app(BrowserConfig)
    app.instance_path = str(tmp_path / "instance")
    app.extensions["twilio"] = FakeGateway()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    with app.app_context():
        db.create_all()
        admin = make_user("admin@example.org", Role.ADMIN)
        admin.name = "Admin Écoute"
        db.session.add_all(
            [
                Service(key="pensions", name="Direction des pensions"),
                Service(key="salaires", name="Direction des salaires"),
            ]
        )
        db.session.commit()
        db.session.remove()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(url, app, "admin@example.org")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"{url}/")


def shoot(page: Page, folder: Path, name: str) -> None:
    """The page at 1280 then 390 px wide; at 390 nothing may widen the page."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        assert not page.evaluate(WIDER_THAN_SCREEN), f"{name} at {width}px"
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_admin_creates_a_user_and_adds_a_focal_point(served, tmp_path):
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=WAIT_MS * 2,
        )
        try:
            context = browser.new_context(
                locale="fr-FR", viewport={"width": 1280, "height": 900}
            )
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda error: errors.append(str(error)))
            # A CSP violation is a console error; a failed request is a response.
            page.on(
                "console",
                lambda message: (
                    "Content Security Policy" in message.text
                    and errors.append(message.text)
                ),
            )
            page.on(
                "response",
                lambda response: (
                    response.status >= 400
                    and not response.url.endswith("/favicon.ico")
                    and errors.append(f"{response.status} {response.url}")
                ),
            )
            sign_in(page, served.url, served.admin, PASSWORD)

            # The nav leads to the users; a new agent of the pensions service,
            # with no password typed: one is made and shown once.
            page.click("header nav >> text=Administration")
            page.wait_for_url(f"{served.url}/admin/users")
            assert page.inner_text("h1") == "Utilisateurs"
            page.fill("#new-email", "awa@example.org")
            page.fill("#new-name", "Awa Dossou")
            page.select_option("#new-role", "agent")
            page.check("label:has-text('Direction des pensions') input")
            shoot(page, tmp_path, "admin-users")
            page.click("button:has-text('Créer le compte')")
            page.wait_for_selector("code.secret")
            assert "Compte créé : Awa Dossou" in page.inner_text("h1")
            password = page.inner_text("code.secret").strip()
            assert len(password) >= 16
            assert page.is_checked("label:has-text('Direction des pensions') input")
            shoot(page, tmp_path, "admin-user-created")

            # A new password, in place (htmx): the first one disappears, the
            # focus stays on the button.
            page.click("#account-password")
            page.wait_for_selector("#account code.secret")
            assert page.locator("code.secret").count() == 1
            first, password = password, page.inner_text("#account code.secret").strip()
            assert password != first
            assert page.evaluate("document.activeElement.id") == "account-password"

            # Services: pensions, then a focal point added in place (htmx).
            page.click("nav.admin-tabs >> text=Services et points focaux")
            page.wait_for_url(f"{served.url}/admin/services")
            assert "Awa Dossou" in page.inner_text("tbody")
            page.click("a:has-text('Direction des pensions')")
            page.wait_for_url(f"{served.url}/admin/services/pensions")
            page.fill("#new-name", "Adjoa Mensah")
            page.fill("#new-phone", "01 97 55 44 33")
            page.fill("#new-email", "adjoa@pensions.bj")
            page.check("#new-head")
            page.click("button:has-text('Ajouter le point focal')")
            page.wait_for_selector("#focal-points h3:has-text('Adjoa Mensah')")
            assert "Adjoa Mensah ajouté(e)." in page.inner_text("#focal-points")
            # htmx swapped the section: the page itself was not reloaded.
            assert page.url == f"{served.url}/admin/services/pensions"
            point_phone = page.locator("#focal-points input[name$='-phone']").first
            assert point_phone.input_value() == "+2290197554433"

            # A mistake, sent from the keyboard, is shown beside its field, what
            # was typed kept, and the focus stays where it was.
            page.fill("#new-name", "Kofi")
            page.fill("#new-phone", "12")
            page.press("#new-phone", "Enter")
            page.wait_for_selector("#new-phone-error")
            assert page.input_value("#new-name") == "Kofi"
            assert page.evaluate("document.activeElement.id") == "new-phone"
            described = page.get_attribute("#new-phone", "aria-describedby")
            assert "new-phone-error" in described
            shoot(page, tmp_path, "admin-service")

            page.click("nav.admin-tabs >> text=Configuration")
            page.wait_for_url(f"{served.url}/admin/configuration")
            assert "Du lundi au vendredi" in page.inner_text("#lines")
            shoot(page, tmp_path, "admin-configuration")

            # The new agent signs in with the password shown once.
            other = browser.new_context(locale="fr-FR")
            agent_page = other.new_page()
            agent_page.set_default_timeout(WAIT_MS)
            sign_in(agent_page, served.url, "awa@example.org", password)
            assert "Administration" not in agent_page.inner_text("header nav")
            assert agent_page.goto(f"{served.url}/admin/users").status == 403
        finally:
            browser.close()
    assert errors == []
    with served.app.app_context():
        user = db.session.scalar(select(User).filter_by(email="awa@example.org"))
        assert [service.key for service in user.services] == ["pensions"]
        point = db.session.scalar(select(FocalPoint).filter_by(name="Adjoa Mensah"))
        assert point.head
        assert point.service.key == "pensions"
        db.session.remove()
