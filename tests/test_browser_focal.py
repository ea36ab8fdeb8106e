"""A focal point opens their link on a phone, in Debian's chromium, and answers.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on; Playwright drives the browser with JavaScript off, as the page needs none.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import Service
from app.services import focal_points, sla_clock
from config import TestingConfig
from tests.conftest import CALLER, LINE, FakeGateway, service_required
from tests.factories import make_caller, make_ticket
from tests.test_browser_recordings import CHROMIUM, CHROMIUM_ARGS, WAIT_MS

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Served:
    url: str
    link: str
    reference: str


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
    app.config["PUBLIC_BASE_URL"] = url
    with app.app_context():
        db.create_all()
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

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(url, link, reference)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


WIDER_THAN_SCREEN = "() => document.documentElement.scrollWidth > window.innerWidth"


def test_a_focal_point_answers_from_a_phone(served, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=WAIT_MS * 2,
        )
        try:
            context = browser.new_context(
                locale="fr-FR",
                java_script_enabled=False,
                viewport={"width": 360, "height": 780},
            )
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
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
        finally:
            browser.close()
