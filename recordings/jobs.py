"""The recording jobs: the media fetched, checked and kept; the caller found."""

import io
import logging
import wave
from datetime import timedelta

import requests
from flask import current_app
from rq import Callback, Retry
from sqlalchemy import or_, select, update

from app.extensions import db
from app.lines import current_lines
from app.models import Call, Recording, Ticket
from app.models.types import utcnow
from app.phone import to_e164
from app.queue import enqueue
from app.services.callers import caller_for
from app.services.followups import acknowledge, commit_and_dispatch
from app.services.recordings import is_twilio_media_url
from recordings.storage import StorageError, storage_for

log = logging.getLogger(__name__)

MAX_BYTES = 200 * 1024 * 1024
# Longer than every retry of a fetch: past this, nobody is working on it.
STALLED_AFTER = timedelta(hours=2)  # four hours of 8 kHz 16-bit stereo
# Longer than one fetch job may run (job_timeout 600 s): a `fetching` row this
# old has lost its job (a killed worker), and another may take it over.
FETCH_LEASE = timedelta(seconds=660)
CHUNK = 64 * 1024
# A stored file may differ from Twilio's duration by rounding and trimming.
DURATION_TOLERANCE = 2.0


class MediaNotReady(Exception):
    """Twilio answered 404 or 5xx: the media is not there yet; RQ tries again."""


class MediaRefused(Exception):
    """A permanent problem (auth, not audio, wrong length): no point retrying."""


def _auth() -> tuple[str, str] | None:
    config = current_app.config
    if config.get("TWILIO_API_KEY") and config.get("TWILIO_API_SECRET"):
        return config["TWILIO_API_KEY"], config["TWILIO_API_SECRET"]
    if config.get("TWILIO_ACCOUNT_SID") and not config.get("TWILIO_LOCAL_TOKEN"):
        return config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"]
    return None


def _note(recording: Recording, action: str, **detail: object) -> None:
    if recording.ticket_id is not None:
        ticket = db.session.get(Ticket, recording.ticket_id)
        ticket.record(action, "system", recording_sid=recording.recording_sid, **detail)


def _wav_seconds(head: bytes) -> float | None:
    """The duration a WAV header announces, or None if this is no WAV."""
    try:
        with wave.open(io.BytesIO(head)) as audio:
            return audio.getnframes() / float(audio.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def _check(recording: Recording, content_type: str, head: bytes, size: int) -> str:
    """The format of what was downloaded, once it is sure to be the right audio."""
    if content_type.startswith("audio/mpeg"):
        if size < 128:
            raise MediaRefused("mp3 too short to hold audio")
        return "mp3"
    seconds = _wav_seconds(head)
    if seconds is None:
        raise MediaRefused(f"not audio ({content_type or 'no content type'})")
    if recording.duration is not None and abs(seconds - recording.duration) > max(
        DURATION_TOLERANCE, recording.duration * 0.1
    ):
        raise MediaRefused(
            f"{seconds:.1f} s of audio, Twilio said {recording.duration} s"
        )
    return "wav"


def _claim(recording_id: int) -> bool:
    """Take the fetch for this job: one guarded UPDATE, so of two jobs for one
    recording (duplicate callbacks in parallel) only one downloads. `fetching`
    is taken over only once its job must be dead (past FETCH_LEASE)."""
    now = utcnow()
    claimed = db.session.execute(
        update(Recording)
        .where(
            Recording.id == recording_id,
            or_(
                Recording.media_status == "pending",
                (Recording.media_status == "fetching")
                & (Recording.updated_at <= now - FETCH_LEASE),
            ),
        )
        .values(media_status="fetching", updated_at=now)
    )
    db.session.commit()
    return claimed.rowcount == 1


def _unclaim(recording: Recording) -> None:
    """Give the fetch back before RQ's retry (which must be able to claim it)."""
    db.session.rollback()
    db.session.execute(
        update(Recording)
        .where(Recording.id == recording.id, Recording.media_status == "fetching")
        .values(media_status="pending", updated_at=utcnow())
    )
    db.session.commit()


def fetch_recording(recording_id: int) -> None:
    """Download one recording; 404/5xx/time-outs raise so RQ's Retry tries again."""
    recording = db.session.get(Recording, recording_id)
    if recording is None or recording.media_status not in ("pending", "fetching"):
        return  # gone, already stored, or given up
    auth = _auth()
    if auth is None or not recording.media_url:
        recording.media_status = "remote"  # no account: Twilio keeps the only copy
        db.session.commit()
        return
    if not is_twilio_media_url(
        recording.media_url, current_app.config["TWILIO_API_BASE_URL"]
    ):
        # Kept before the callback checked hosts, or the setting changed since:
        # the credentials go to Twilio's API host and nowhere else.
        _give_up(recording, "the media URL is not on Twilio's API host")
        return
    if not _claim(recording.id):
        return  # another job is downloading it
    key = f"{recording.recording_sid}.wav"
    try:
        with requests.get(
            recording.media_url + ".wav", auth=auth, stream=True, timeout=(5, 30)
        ) as response:
            if response.status_code == 404 or response.status_code >= 500:
                raise MediaNotReady(f"Twilio answered {response.status_code}")
            if response.status_code != 200:
                raise MediaRefused(f"Twilio answered {response.status_code}")
            content_type = response.headers.get("Content-Type", "")
            if not content_type.startswith("audio/"):
                raise MediaRefused(f"not audio ({content_type or 'no content type'})")
            stored = storage_for(current_app).save(
                key, response.iter_content(CHUNK), MAX_BYTES
            )
    except (MediaRefused, StorageError) as error:
        _give_up(recording, str(error))
        return
    except MediaNotReady:
        _unclaim(recording)
        raise
    except requests.RequestException as error:
        _unclaim(recording)
        raise MediaNotReady(str(error)) from error
    path = storage_for(current_app).local_path(key)
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    try:
        media_format = _check(recording, content_type, head, stored.size)
    except MediaRefused as error:
        storage_for(current_app).delete(key)
        _give_up(recording, str(error))
        return
    recording.storage_key = key
    recording.media_format = media_format
    recording.size_bytes = stored.size
    recording.sha256 = stored.sha256
    recording.media_status = "stored"
    recording.fetch_error = None
    recording.stored_at = utcnow()
    _note(recording, "recording_stored", size=stored.size, sha256=stored.sha256)
    db.session.commit()
    if current_app.config.get("DELETE_TWILIO_RECORDINGS"):
        _delete_at_twilio(recording)


def _delete_at_twilio(recording: Recording) -> None:
    """Only after our copy is verified; a failure here keeps both copies."""
    try:
        current_app.extensions["twilio"].delete_recording(recording.recording_sid)
    except Exception:
        log.exception(
            "could not delete recording %s at Twilio", recording.recording_sid
        )
        return
    _note(recording, "recording_deleted_at_twilio")
    db.session.commit()


def _give_up(recording: Recording, reason: str) -> None:
    recording.media_status = "failed"
    recording.fetch_error = reason[:200]
    _note(recording, "recording_failed", reason=reason[:200])
    db.session.commit()
    log.warning("recording %s not stored: %s", recording.recording_sid, reason)


def fetch_failed(job, connection, error_type, error, traceback) -> None:
    """RQ failure callback: after the last retry the recording is marked failed."""
    # The job's own transaction may have died with it (a time-out mid-query).
    db.session.rollback()
    if job.retries_left:
        # A job that broke mid-download (a time-out) gives the fetch back.
        db.session.execute(
            update(Recording)
            .where(Recording.id == job.args[0], Recording.media_status == "fetching")
            .values(media_status="pending", updated_at=utcnow())
        )
        db.session.commit()
        return
    recording = db.session.get(Recording, job.args[0])
    if recording is not None and recording.media_status in ("pending", "fetching"):
        _give_up(recording, f"gave up after retries: {error}")


def schedule_fetch(recording_id: int) -> bool:
    intervals = current_app.config["RECORDING_FETCH_RETRY_INTERVALS"]
    return enqueue(
        fetch_recording,
        recording_id,
        queue="media",
        retry=Retry(max=len(intervals), interval=list(intervals)),
        job_timeout=int(FETCH_LEASE.total_seconds()) - 60,
        on_failure=Callback(fetch_failed),
    )


def requeue_stalled_fetches() -> int:
    """The periodic job: fetch again what waits too long (its enqueue was lost),
    and sweep what downloads killed mid-way left (untouched past FETCH_LEASE)."""
    swept = storage_for(current_app).sweep_partials(FETCH_LEASE.total_seconds())
    if swept:
        log.info("swept %s partial download(s)", swept)
    stalled = db.session.scalars(
        select(Recording.id).where(
            Recording.media_status.in_(("pending", "fetching")),
            Recording.updated_at <= utcnow() - STALLED_AFTER,
        )
    ).all()
    return sum(1 for recording_id in stalled if schedule_fetch(recording_id))


def find_caller(call_id: int) -> None:
    """Learn the number of a call first heard of through its recording callback.

    Twilio's recording callback carries no From: a voicemail it filed (the
    fallback's, or a spool replayed in that order) has no caller to text. Ask
    Twilio for the call, then give its tickets their caller and send each the
    acknowledgment the caller would have had. Claimed with one conditional
    UPDATE, so a retry or a second job never texts twice.
    """
    call = db.session.get(Call, call_id)
    if call is None:
        return
    if call.caller_id is None:
        parties = current_app.extensions["twilio"].call_parties(call.call_sid)
        if parties is None or not parties.from_:
            log.info("call %s: Twilio knows no caller's number", call.call_sid)
            return
        region = current_app.config["DEFAULT_REGION"]
        caller = caller_for(to_e164(parties.from_, region))
        if caller is None:
            return  # a withheld number: nobody to text
        call.caller = caller
        call.from_raw = call.from_raw or parties.from_[:64]
        if parties.to:
            call.line = current_lines().for_number(parties.to).number
        db.session.flush()
    claimed = db.session.scalars(
        update(Ticket)
        .where(Ticket.origin_call_id == call.id, Ticket.caller_id.is_(None))
        .values(caller_id=call.caller_id)
        .returning(Ticket.id)
    ).all()
    for ticket_id in claimed:
        ticket = db.session.get(Ticket, ticket_id)
        db.session.refresh(ticket)
        acknowledge(ticket)
    commit_and_dispatch()


def schedule_find_caller(call_id: int) -> bool:
    """A lookup at Twilio's REST API, not a text: on `default`, behind the callers'
    texts; the acknowledgment it leads to goes on `notify` then."""
    return enqueue(find_caller, call_id, queue="default")
