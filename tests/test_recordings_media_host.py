"""Recording media is fetched from Twilio's API host only: the credentials go
nowhere else, whatever a (signed) callback names."""

import logging

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Recording
from app.services.recordings import is_twilio_media_url
from recordings.jobs import fetch_recording
from tests.conftest import sign
from tests.factories import sid
from tests.media_standin import ACCOUNT, TOKEN, make_wav

CALLBACK = "/voice/recording?lang=fr&purpose=complaint&category=delay"
TWILIO = "https://api.twilio.com"


@pytest.mark.parametrize(
    ("url", "base", "allowed"),
    [
        (f"{TWILIO}/2010-04-01/Accounts/AC1/Recordings/RE1", TWILIO, True),
        ("https://API.twilio.com/2010-04-01/Recordings/RE1", TWILIO, True),
        ("https://api.twilio.com:443/2010-04-01/Recordings/RE1", TWILIO, True),
        ("http://api.twilio.com/2010-04-01/Recordings/RE1", TWILIO, False),
        ("https://evil.example/2010-04-01/Recordings/RE1", TWILIO, False),
        ("https://api.twilio.com.evil.example/RE1", TWILIO, False),
        ("https://api.twilio.com@evil.example/RE1", TWILIO, False),
        ("https://user:pw@api.twilio.com/RE1", TWILIO, False),
        ("https://evil.example/?https://api.twilio.com/RE1", TWILIO, False),
        ("//api.twilio.com/RE1", TWILIO, False),
        ("ftp://api.twilio.com/RE1", TWILIO, False),
        ("https://[::1/RE1", TWILIO, False),
        ("", TWILIO, False),
        ("http://127.0.0.1:8123/RE1", "http://127.0.0.1:4010", True),
        ("https://127.0.0.1:8123/RE1", "http://127.0.0.1:4010", True),
        ("http://10.0.0.1:8123/RE1", "http://127.0.0.1:4010", False),
    ],
)
def test_only_the_api_host_is_allowed(url, base, allowed):
    assert is_twilio_media_url(url, base) is allowed


@pytest.fixture
def account(app):
    app.config.update(TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN)
    app.config.pop("TWILIO_LOCAL_TOKEN", None)
    return app


def post_recording(client, recording_sid: str, url: str):
    form = {
        "CallSid": sid("CA"),
        "AccountSid": ACCOUNT,
        "RecordingSid": recording_sid,
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
    }
    signature = sign("http://localhost" + CALLBACK, form, token=TOKEN)
    return client.post(CALLBACK, data=form, headers={"X-Twilio-Signature": signature})


def test_a_callback_naming_another_host_sends_it_nothing(
    app, client, account, media, caplog
):
    """The stand-in plays the attacker's host: the API base is Twilio's."""
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(3))
    with caplog.at_level(logging.WARNING):
        response = post_recording(
            client, recording_sid, media.recording_url(recording_sid)
        )
    assert response.status_code == 204
    recording = db.session.scalars(select(Recording)).one()
    assert recording.media_url is None
    assert recording.media_status is None  # nothing to fetch
    assert media.requests == []
    assert media.refused == []
    assert "not on Twilio's API host" in caplog.text
    assert TOKEN not in caplog.text


def test_the_same_callback_on_the_api_host_is_fetched(app, client, account, media):
    app.config["TWILIO_API_BASE_URL"] = media.url  # the local mock, plain http
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(3))
    response = post_recording(client, recording_sid, media.recording_url(recording_sid))
    assert response.status_code == 204
    recording = db.session.scalars(select(Recording)).one()
    assert recording.media_status == "stored"
    assert len(media.requests) == 1


def test_the_job_refuses_a_url_kept_from_before(app, client, account, media):
    """A row stored before hosts were checked (or under another setting)."""
    app.config["TWILIO_API_BASE_URL"] = media.url
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(3))
    media.not_found_first = 99  # the first fetch (at the callback) stays pending
    post_recording(client, recording_sid, media.recording_url(recording_sid))
    recording = db.session.scalars(select(Recording)).one()
    assert recording.media_status in ("pending", "fetching")
    seen = len(media.requests)
    app.config["TWILIO_API_BASE_URL"] = TWILIO
    fetch_recording(recording.id)
    db.session.refresh(recording)
    assert recording.media_status == "failed"
    assert "not on Twilio's API host" in recording.fetch_error
    assert len(media.requests) == seen
