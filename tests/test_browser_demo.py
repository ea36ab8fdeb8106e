"""The living demo in Debian's chromium: a supervisor signs in to the seeded
centre, sees its tickets and plays a demo recording.

The app runs under a real server in a thread, on a SQLite file seeded by the
real `seed-demo` command; screenshots at 1280 and 390 px wide go to tmp_path.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app, demo
from app.extensions import db
from app.models import Recording, Ticket
from config import TestingConfig
from tests.conftest import FakeGateway, service_required
from tests.test_browser_errors import shoot
from tests.test_browser_recordings import AUDIO_LOADED, CHROMIUM, CHROMIUM_ARGS, WAIT_MS

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Served:
    url: str
    recording_id: int
    appeal: str  # the reference of a ticket whose citizen objected


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
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        recording_id = db.session.scalars(select(Recording.id)).first()
        appeal = db.session.scalars(select(Ticket).filter_by(status="reopened")).first()
        reference = appeal.display_reference
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", recording_id, reference)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def test_a_supervisor_finds_the_demo_centre_at_work(served, tmp_path):
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{served.url}/login?lang=fr")
            page.fill("input[name=email]", "superviseur@ecoute.local")
            page.fill("input[name=password]", demo.DEMO_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{served.url}/")
            rows = page.locator("main table tbody tr")
            assert rows.count() >= 30
            shoot(page, tmp_path, "demo-desk")

            # An appeal's whole story, as the ticket page tells it.
            page.goto(f"{served.url}/tickets/{served.appeal}")
            main = page.inner_text("main")
            for told in ("Rétabli", "rétabli", "Dossier créé"):
                if told in main:
                    break
            else:
                pytest.fail("the appeal's history is not on its page")
            shoot(page, tmp_path, "demo-ticket")

            page.goto(f"{served.url}/recordings/{served.recording_id}")
            page.wait_for_function(AUDIO_LOADED, timeout=WAIT_MS)
            page.evaluate("document.getElementById('recording-audio').play()")
            page.wait_for_function(
                "() => document.getElementById('recording-audio').currentTime > 0.2",
                timeout=WAIT_MS,
            )
            page.evaluate("document.getElementById('recording-audio').pause()")
            shoot(page, tmp_path, "demo-recording")
        finally:
            browser.close()
    assert errors == []
