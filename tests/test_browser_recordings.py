"""A supervisor signs in, opens a recording and plays it, in Debian's chromium.

The real app runs under a real server in a thread, on a SQLite file (the server
thread has its own connections) with CSRF on; Playwright drives the browser.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Recording, Role, TicketEvent
from recordings.pages import WAVESURFER
from tests.browser import (
    WAIT_MS,
    browser_app,
    chromium,
    serving,
    sign_in,
    watched_page,
)
from tests.conftest import CALLER, LINE, service_required
from tests.factories import make_caller, make_ticket, make_user, sid, stored_recording

pytestmark = pytest.mark.browser

SECONDS = 3.0  # the WAV's length


@dataclass(frozen=True)
class Served:
    url: str
    app: object
    recording_id: int
    reference: str
    supervisor: str


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    if not WAVESURFER.is_file():
        service_required("wavesurfer.js in node_modules (npm ci)")
    app = browser_app(tmp_path)
    with app.app_context():
        supervisor = make_user("chef@example.org", Role.SUPERVISOR)
        agent = make_user("agent@example.org", Role.AGENT)
        caller = make_caller(CALLER)
        ticket = make_ticket(caller, line=LINE, category="service")
        call = Call(
            call_sid=sid("CA"),
            caller=caller,
            from_raw=CALLER,
            line=LINE,
            agent_id=agent.id,
        )
        recording = stored_recording(app, call, ticket.id, SECONDS)
        db.session.add_all([call, recording])
        db.session.commit()
        seeded = (recording.id, ticket.display_reference, supervisor.email)
        db.session.remove()

    with serving(app) as url:
        yield Served(url, app, *seeded)


AUDIO_LOADED = """() => {
  const audio = document.getElementById("recording-audio");
  return audio && audio.readyState >= 1 && Number.isFinite(audio.duration)
    && audio.duration > 0;
}"""

WAVEFORM_DRAWN = """() => {
  const host = document.querySelector("#waveform > div");
  const root = host && host.shadowRoot;
  return !!root && root.querySelectorAll("canvas").length > 0
    && window.ecouteWaveform.getDecodedData() !== null;
}"""


def test_supervisor_plays_a_recording_beside_its_ticket(served):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(browser, errors, locale="fr-FR")
        sign_in(page, served.url, served.supervisor)

        # The nav link, then the recording from the list.
        page.click("header a[href='/recordings']")
        page.wait_for_url(f"{served.url}/recordings")
        link = page.locator(f"a[href='/recordings/{served.recording_id}']")
        assert link.inner_text().strip() == served.reference
        link.click()
        page.wait_for_url(f"{served.url}/recordings/{served.recording_id}")
        assert page.inner_text("#ticket-reference") == served.reference
        assert "Dossier créé" in page.inner_text("#history")

        # The <audio> element loads the stored WAV through the API...
        page.wait_for_function(AUDIO_LOADED, timeout=WAIT_MS)
        duration = page.evaluate("document.getElementById('recording-audio').duration")
        assert duration == pytest.approx(SECONDS, abs=0.1)
        # ...wavesurfer draws it in its shadow DOM...
        page.wait_for_function(WAVEFORM_DRAWN, timeout=WAIT_MS)
        assert page.evaluate("window.ecouteWaveform.getDuration()") == (
            pytest.approx(SECONDS, abs=0.1)
        )

        # ...and it plays.
        page.evaluate("document.getElementById('recording-audio').play()")
        # Predicates as functions: a bare expression is eval()ed in the page,
        # which its Content-Security-Policy forbids.
        page.wait_for_function(
            "() => document.getElementById('recording-audio').currentTime > 0.2",
            timeout=WAIT_MS,
        )
        assert not page.evaluate("document.getElementById('recording-audio').paused")
        page.evaluate("document.getElementById('recording-audio').pause()")

        # A click on the waveform seeks the audio element.
        box = page.locator("#waveform").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "() => Math.abs(document.getElementById('recording-audio').currentTime"
            f" - {SECONDS * 0.75}) < 0.3",
            timeout=WAIT_MS,
        )

    assert errors == []
    with served.app.app_context():
        recording = db.session.get(Recording, served.recording_id)
        listened = db.session.scalars(
            select(TicketEvent).filter_by(
                ticket_id=recording.ticket_id, action="listened"
            )
        ).all()
        assert listened
        assert {event.actor for event in listened} == {served.supervisor}
        assert all(
            event.detail == {"recording_id": served.recording_id} for event in listened
        )
        db.session.remove()
