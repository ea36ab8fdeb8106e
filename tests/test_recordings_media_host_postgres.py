"""The fast path of the usual recording callback (one UPDATE on PostgreSQL)
keeps the media host rule too."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Recording
from tests import test_postgres as pg

pytestmark = pytest.mark.postgres

# The PostgreSQL fixtures of tests/test_postgres.py: a migrated schema of its own.
postgres_url = pg.postgres_url
app = pg.app
post = pg.post

BAD_HOSTS = [
    "https://evil.example/2010-04-01/Recordings/RE1",
    "http://api.twilio.com/2010-04-01/Recordings/RE1",
]


def leave_a_voicemail(post, with_url: bool) -> tuple[str, str, str]:
    """The caller records; the <Record> action names the media URL, or not."""
    call_sid, recording_sid = pg.sid("CA"), pg.sid("RE")
    pg.reach_voicemail(post, call_sid)
    url = pg.recording_form(call_sid, recording_sid)["RecordingUrl"]
    action = pg.call_form(
        call_sid, CallStatus="in-progress", RecordingSid=recording_sid, Digits="#"
    )
    if with_url:
        action["RecordingUrl"] = url
    assert post(pg.VOICEMAIL, action).status_code == 200
    return call_sid, recording_sid, url


def deliver_callback(post, call_sid: str, recording_sid: str, url: str) -> Recording:
    callback = {**pg.recording_form(call_sid, recording_sid), "RecordingUrl": url}
    assert post(pg.RECORDING_CALLBACK, callback).status_code == 204
    db.session.expire_all()
    return db.session.scalars(select(Recording)).one()


@pytest.mark.parametrize("url", BAD_HOSTS)
def test_the_usual_callback_naming_another_host_marks_nothing_to_fetch(
    app, post, monkeypatch, url
):
    fetches: list[int] = []
    monkeypatch.setattr("recordings.views.schedule_fetch", fetches.append)
    call_sid, recording_sid, _ = leave_a_voicemail(post, with_url=False)
    recording = deliver_callback(post, call_sid, recording_sid, url)
    assert fetches == []
    assert (recording.status, recording.media_status) == ("completed", None)
    assert recording.media_url is None


@pytest.mark.parametrize("url", BAD_HOSTS)
def test_another_host_never_replaces_the_url_on_twilios_host(
    app, post, monkeypatch, url
):
    fetches: list[int] = []
    monkeypatch.setattr("recordings.views.schedule_fetch", fetches.append)
    call_sid, recording_sid, good = leave_a_voicemail(post, with_url=True)
    recording = deliver_callback(post, call_sid, recording_sid, url)
    assert fetches == [recording.id]
    assert recording.media_url == good  # only Twilio's URL is ever fetched
