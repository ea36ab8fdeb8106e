"""The living demo in Debian's chromium: a supervisor signs in to the seeded
centre, sees its tickets and plays a demo recording.

The app runs under a real server in a thread, on a SQLite file seeded by the
real `seed-demo` command; screenshots at 1280 and 390 px wide go to tmp_path.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from app import demo
from app.extensions import db
from app.models import Recording, Ticket
from tests.browser import browser_app, chromium, serving, sign_in, watched_page
from tests.test_browser_errors import shoot
from tests.test_browser_recordings import AUDIO_LOADED, WAIT_MS

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Served:
    url: str
    recording_id: int
    appeal: str  # the reference of a ticket whose citizen objected


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        recording_id = db.session.scalars(select(Recording.id)).first()
        appeal = db.session.scalars(select(Ticket).filter_by(status="reopened")).first()
        reference = appeal.display_reference
        db.session.remove()
    with serving(app) as url:
        yield Served(url, recording_id, reference)


def test_a_supervisor_finds_the_demo_centre_at_work(served, tmp_path):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(browser, errors, viewport={"width": 1280, "height": 900})
        page.goto(f"{served.url}/login?lang=fr")
        sign_in(page, served.url, "superviseur@ecoute.local", demo.DEMO_PASSWORD)
        rows = page.locator("main table tbody tr")
        assert rows.count() >= 30
        shoot(page, tmp_path, "demo-desk")

        # An appeal's whole story, as the ticket page tells it.
        page.goto(f"{served.url}/tickets/{served.appeal}")
        main = page.inner_text("main")
        assert "Recours" in main  # the appeal's mark
        assert "Demande enregistrée" in main  # its history from the start
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
    assert errors == []
