"""Recording media: fetched from Twilio, checked, stored, played back, purged."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Recording, Role, Ticket
from recordings.jobs import MediaNotReady, fetch_failed, fetch_recording
from tests.conftest import CALLER, LINE, sign
from tests.factories import make_caller, make_ticket, make_token, make_user, sid
from tests.media_standin import ACCOUNT, TOKEN, make_wav

CALLBACK = "/voice/recording?lang=fr&purpose=complaint&category=delay"


@pytest.fixture
def twilio_account(app):
    # Media is fetched from TWILIO_API_BASE_URL's host only: the stand-in's.
    app.config.update(
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE_URL="http://127.0.0.1",
    )
    app.config.pop("TWILIO_LOCAL_TOKEN", None)
    return app


def post_recording(
    client, recording_sid, media, status="completed", duration="3", call=None
):
    form = {
        "CallSid": call or sid("CA"),
        "AccountSid": ACCOUNT,
        "RecordingSid": recording_sid,
        "RecordingUrl": media.recording_url(recording_sid),
        "RecordingStatus": status,
        "RecordingDuration": duration,
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    token = client.application.config["TWILIO_AUTH_TOKEN"]
    signature = sign("http://localhost" + CALLBACK, form, token=token)
    response = client.post(
        CALLBACK, data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204
    return db.session.scalars(
        select(Recording).filter_by(recording_sid=recording_sid)
    ).one()


def stored_file(app, recording) -> Path:
    return Path(app.config["RECORDINGS_DIR"]) / recording.storage_key


def test_completed_callback_fetches_checks_and_stores_the_media(
    app, client, twilio_account, media
):
    recording_sid, audio = sid("RE"), make_wav(3)
    media.serve(recording_sid, audio)
    recording = post_recording(client, recording_sid, media)
    assert recording.media_status == "stored"
    assert stored_file(app, recording).read_bytes() == audio
    assert recording.size_bytes == len(audio)
    assert recording.sha256 == hashlib.sha256(audio).hexdigest()
    assert recording.media_format == "wav"
    assert recording.storage_key == f"{recording_sid}.wav"  # our name, not Twilio's URL
    ticket = db.session.get(Ticket, recording.ticket_id)
    assert "recording_stored" in [event.action for event in ticket.events]
    assert media.requests == [
        f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}.wav"
    ]
    assert media.refused == []


def test_a_repeated_callback_downloads_once(app, client, twilio_account, media):
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(3))
    call = sid("CA")
    post_recording(client, recording_sid, media, call=call)
    post_recording(client, recording_sid, media, call=call)
    assert len(media.requests) == 1


def test_media_not_ready_raises_for_a_retry_then_succeeds(
    app, client, twilio_account, media
):
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(3))
    media.not_found_first = 1
    recording = post_recording(client, recording_sid, media)  # the inline job met a 404
    assert recording.media_status == "pending"  # given back for the retry
    fetch_recording(recording.id)  # what RQ's retry runs
    assert recording.media_status == "stored"
    media.not_found_first = 2
    other = post_recording(client, sid("RE"), media)
    with pytest.raises(MediaNotReady):
        fetch_recording(other.id)


@pytest.mark.parametrize(
    ("body", "content_type", "duration", "reason"),
    [
        (b"<html>login</html>", "text/html", "3", "not audio"),
        (b"RIFF....not really", "audio/x-wav", "3", "not audio"),
        (make_wav(3), "audio/x-wav", "30", "Twilio said 30 s"),
    ],
)
def test_wrong_media_is_refused_and_marked_on_the_ticket(
    app, client, twilio_account, media, body, content_type, duration, reason
):
    recording_sid = sid("RE")
    media.serve(recording_sid, body, content_type)
    recording = post_recording(client, recording_sid, media, duration=duration)
    assert recording.media_status == "failed"
    assert reason in recording.fetch_error
    assert not list(Path(app.config["RECORDINGS_DIR"]).glob("RE*"))
    ticket = db.session.get(Ticket, recording.ticket_id)
    assert ticket.events[-1].action == "recording_failed"


def test_wrong_credentials_are_not_retried(app, client, twilio_account, media):
    # An API key and secret win over the account token: here a wrong pair.
    app.config.update(TWILIO_API_KEY="SK" + "0" * 32, TWILIO_API_SECRET="wrong")
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(3))
    recording = post_recording(client, recording_sid, media)
    assert recording.media_status == "failed"
    assert "401" in recording.fetch_error
    assert len(media.refused) == 1


def test_last_retry_failure_marks_the_recording_failed(
    app, client, twilio_account, media
):
    media.not_found_first = 99
    recording = post_recording(client, sid("RE"), media)

    class Job:
        args = (recording.id,)
        retries_left = 2

    fetch_failed(Job, None, MediaNotReady, MediaNotReady("404"), None)
    assert recording.media_status == "pending"  # given back: RQ tries again
    Job.retries_left = 0
    fetch_failed(Job, None, MediaNotReady, MediaNotReady("404"), None)
    assert recording.media_status == "failed"
    assert "gave up after retries" in recording.fetch_error


def test_twilio_copy_is_deleted_only_after_ours_is_verified(
    app, client, twilio_account, media, sms
):
    app.config["DELETE_TWILIO_RECORDINGS"] = True
    good, bad = sid("RE"), sid("RE")
    media.serve(good, make_wav(3))
    media.serve(bad, b"nope", "text/plain")
    post_recording(client, good, media)
    post_recording(client, bad, media)
    assert sms.deleted_recordings == [good]


def test_absent_recording_is_not_fetched(app, client, twilio_account, media):
    recording = post_recording(client, sid("RE"), media, status="absent", duration="0")
    assert recording.media_status is None
    assert media.requests == []


def test_without_a_twilio_account_the_media_stays_remote(app, client, media):
    app.config["TWILIO_API_BASE_URL"] = "http://127.0.0.1"
    recording = post_recording(client, sid("RE"), media)
    assert recording.media_status == "remote"
    assert media.requests == []


# --- playback ---------------------------------------------------------------------


@pytest.fixture
def people(app):
    return {
        "supervisor": make_user("chef@example.org", Role.SUPERVISOR),
        "admin": make_user("admin@example.org", Role.ADMIN),
        "assigned": make_user("assigned@example.org", Role.AGENT),
        "took_call": make_user("took@example.org", Role.AGENT),
        "other": make_user("other@example.org", Role.AGENT),
    }


@pytest.fixture
def stored(app, people):
    """A stored 3-second recording: one agent took the call, another has the ticket."""
    audio = make_wav(3)
    key = f"{sid('RE')}.wav"
    Path(app.config["RECORDINGS_DIR"]).mkdir(parents=True, exist_ok=True)
    (Path(app.config["RECORDINGS_DIR"]) / key).write_bytes(audio)
    caller = make_caller()
    call = Call(
        call_sid=sid("CA"),
        caller=caller,
        from_raw=CALLER,
        line=LINE,
        agent_id=people["took_call"].id,
    )
    ticket = make_ticket(caller, line=LINE, assignee=people["assigned"])
    recording = Recording(
        recording_sid=key[:-4],
        call=call,
        ticket_id=ticket.id,
        status="completed",
        duration=3,
        media_status="stored",
        storage_key=key,
        media_format="wav",
        size_bytes=len(audio),
        sha256=hashlib.sha256(audio).hexdigest(),
    )
    db.session.add_all([call, recording])
    db.session.commit()
    return recording, audio


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


def fetch(client, url: str, headers: dict[str, str]):
    """GET and read the body, closing the streamed file as a browser would."""
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("supervisor", 200),
        ("admin", 200),
        ("assigned", 200),
        ("took_call", 200),
        ("other", 403),
    ],
)
def test_who_may_listen(client, people, stored, who, expected):
    recording, _ = stored
    response = fetch(
        client, f"/api/recordings/{recording.id}/audio", bearer(people[who])
    )
    assert response.status_code == expected
    if expected == 403:
        assert response.get_json()["error"]["code"] == "forbidden"


def test_no_login_is_401(client, stored):
    recording, _ = stored
    response = client.get(f"/api/recordings/{recording.id}/audio")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_full_and_ranged_requests_byte_for_byte(client, people, stored):
    recording, audio = stored
    url, auth = f"/api/recordings/{recording.id}/audio", bearer(people["supervisor"])
    full = fetch(client, url, auth)
    assert (full.status_code, full.mimetype) == (200, "audio/wav")
    assert full.data == audio
    assert full.headers["Accept-Ranges"] == "bytes"
    part = fetch(client, url, {**auth, "Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.data == audio[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(audio)}"
    tail = fetch(client, url, {**auth, "Range": "bytes=-500"})
    assert tail.data == audio[-500:]
    bad = fetch(client, url, {**auth, "Range": f"bytes={len(audio) + 10}-"})
    assert bad.status_code == 416


def test_each_playback_is_written_to_the_history_seeks_are_not(client, people, stored):
    recording, _ = stored
    url = f"/api/recordings/{recording.id}/audio"
    fetch(client, url, {**bearer(people["supervisor"]), "Range": "bytes=0-"})
    fetch(client, url, {**bearer(people["supervisor"]), "Range": "bytes=5000-"})
    fetch(client, url, bearer(people["assigned"]))
    ticket = db.session.get(Ticket, recording.ticket_id)
    listened = [event for event in ticket.events if event.action == "listened"]
    assert [event.actor for event in listened] == [
        "chef@example.org",
        "assigned@example.org",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/api/recordings/../../etc/passwd/audio",
        "/api/recordings/%2e%2e%2f%2e%2e%2fetc%2fpasswd/audio",
        "/api/recordings/1%00/audio",
        "/api/recordings/-1/audio",
        "/api/recordings/99999/audio",
    ],
)
def test_path_traversal_and_unknown_ids_find_nothing(client, people, stored, path):
    response = client.get(path, headers=bearer(people["supervisor"]))
    assert response.status_code == 404


def test_a_tampered_storage_key_is_never_opened(client, people, stored):
    recording, _ = stored
    recording.storage_key = "../../../etc/passwd"
    db.session.commit()
    response = client.get(
        f"/api/recordings/{recording.id}/audio", headers=bearer(people["supervisor"])
    )
    assert response.status_code == 404
    assert b"root:" not in response.data


def test_not_stored_and_purged(client, people, stored):
    recording, _ = stored
    url, auth = f"/api/recordings/{recording.id}/audio", bearer(people["supervisor"])
    recording.media_status = "pending"
    db.session.commit()
    assert client.get(url, headers=auth).get_json()["error"]["code"] == "not_stored"
    recording.media_status = "purged"
    db.session.commit()
    assert client.get(url, headers=auth).status_code == 410


# --- retention --------------------------------------------------------------------


def test_purge_dry_run_then_purge_keeps_metadata_and_marks_the_ticket(
    app, runner, stored
):
    recording, _ = stored
    path = stored_file(app, recording)
    app.config["RECORDINGS_RETENTION_DAYS"] = 30
    young = runner.invoke(args=["recordings", "purge", "--dry-run"])
    assert "would remove 0 recording(s)" in young.output
    recording.created_at = datetime.now(UTC) - timedelta(days=31)
    db.session.commit()
    dry = runner.invoke(args=["recordings", "purge", "--dry-run"])
    assert f"would remove {recording.recording_sid}" in dry.output
    assert path.exists()
    assert recording.media_status == "stored"
    done = runner.invoke(args=["recordings", "purge"])
    assert f"removed {recording.recording_sid} (line {LINE}, 31 days" in done.output
    assert not path.exists()
    db.session.refresh(recording)
    assert (recording.media_status, recording.sha256 is not None) == ("purged", True)
    ticket = db.session.get(Ticket, recording.ticket_id)
    assert ticket.events[-1].action == "recording_purged"


def test_zero_retention_keeps_forever(app, runner, stored):
    recording, _ = stored
    app.config["RECORDINGS_RETENTION_DAYS"] = 0
    recording.created_at = datetime.now(UTC) - timedelta(days=4000)
    db.session.commit()
    assert (
        "removed 0 recording(s)" in runner.invoke(args=["recordings", "purge"]).output
    )


def test_seeks_reuse_a_grant_only_for_the_same_credential(client, people, stored):
    recording, audio = stored
    url = f"/api/recordings/{recording.id}/audio"
    supervisor = bearer(people["supervisor"])
    assert fetch(client, url, {**supervisor, "Range": "bytes=0-99"}).status_code == 206
    seek = fetch(client, url, {**supervisor, "Range": "bytes=2000-2099"})
    assert seek.data == audio[2000:2100]
    other = fetch(client, url, {**bearer(people["other"]), "Range": "bytes=2000-2099"})
    assert other.status_code == 403  # no grant of someone else's is reused
    assert fetch(client, url, {"Range": "bytes=2000-2099"}).status_code == 401
