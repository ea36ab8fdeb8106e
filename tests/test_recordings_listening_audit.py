"""Every listening session is in the ticket's history, whatever Range it sends."""

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db
from app.models import TicketEvent
from recordings.access import SESSION
from tests import test_recordings_media as media_tests
from tests.test_recordings_media import bearer, fetch

# The stored recording and its people, from the media tests.
people = media_tests.people
stored = media_tests.stored


def listened(recording) -> list[TicketEvent]:
    return db.session.scalars(
        select(TicketEvent).filter_by(ticket_id=recording.ticket_id, action="listened")
    ).all()


def play(client, recording, headers, range_header: str | None):
    extra = {"Range": range_header} if range_header else {}
    response = fetch(
        client, f"/api/recordings/{recording.id}/audio", {**headers, **extra}
    )
    assert response.status_code in (200, 206), response.get_data(as_text=True)
    return response


def forget_grants(app) -> None:
    """As another gunicorn process would see it, or once GRANT_SECONDS passed."""
    app.extensions.get("recordings.grants", {}).clear()


@pytest.mark.parametrize("range_header", ["bytes=44-", "bytes=1000-2000", "bytes=-10"])
def test_a_playback_starting_past_byte_0_is_audited(
    client, people, stored, range_header
):
    recording, _ = stored
    response = play(client, recording, bearer(people["supervisor"]), range_header)
    assert response.status_code == 206
    [event] = listened(recording)
    assert event.actor == people["supervisor"].email
    assert event.detail == {"recording_id": recording.id}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    starts=st.lists(st.integers(0, 40_000), min_size=1, max_size=6),
    fresh_process=st.booleans(),
)
def test_one_event_per_person_and_session_whatever_the_ranges(
    app, client, people, stored, starts, fresh_process
):
    recording, _ = stored
    db.session.execute(
        TicketEvent.__table__.delete().where(TicketEvent.action == "listened")
    )
    db.session.commit()
    forget_grants(app)
    headers = bearer(people["assigned"])
    for start in starts:
        if fresh_process:
            forget_grants(app)
        play(client, recording, headers, f"bytes={start}-")
    assert len(listened(recording)) == 1


def test_a_new_session_after_the_last_one_is_audited_again(app, client, people, stored):
    recording, _ = stored
    headers = bearer(people["assigned"])
    play(client, recording, headers, "bytes=44-")
    [event] = listened(recording)
    event.at = event.at - SESSION - timedelta(minutes=1)
    db.session.commit()
    forget_grants(app)
    play(client, recording, headers, "bytes=5000-")
    assert len(listened(recording)) == 2


def test_each_listener_is_in_the_history(client, people, stored):
    recording, _ = stored
    for who in ("supervisor", "assigned", "took_call"):
        play(client, recording, bearer(people[who]), "bytes=44-")
    assert sorted(event.actor for event in listened(recording)) == sorted(
        people[who].email for who in ("supervisor", "assigned", "took_call")
    )
