"""Recordings reported by Twilio, attached to their call's ticket in any order."""

import logging
from collections.abc import Mapping
from functools import cache
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql import Executable

from app.extensions import autocommit, db
from app.models import Call, Recording, Ticket
from app.models.types import UTCDateTime, utcnow
from app.services.calls import UPSERTS, parse_count

log = logging.getLogger(__name__)

# A recording's status only moves forward: a late "in-progress" changes nothing,
# and the final ones never change: a late "absent" does not undo "completed".
_RANK = {"in-progress": 0, "completed": 1, "absent": 1, "failed": 1}
_FINAL = 1


def is_twilio_media_url(url: str, api_base: str) -> bool:
    """Is `url` on Twilio's API host, the one TWILIO_API_BASE_URL names?

    The fetch job sends the account's credentials to this URL, so a signed
    callback naming another host must not make it send them there. https only,
    unless the base itself is plain http (a local mock).
    """
    try:
        parts, base = urlsplit(url), urlsplit(api_base)
        host = parts.hostname
    except ValueError:
        return False
    schemes = {"https", base.scheme} & {"https", "http"}
    return (
        parts.scheme in schemes
        and host is not None
        and host == base.hostname
        and parts.username is None
        and parts.password is None
    )


def media_url(form: Mapping[str, str]) -> str | None:
    """The callback's RecordingUrl, if it is one the fetch job may use."""
    url = (form.get("RecordingUrl") or "")[:500]
    if not url:
        return None
    if is_twilio_media_url(url, current_app.config["TWILIO_API_BASE_URL"]):
        return url
    log.warning(
        "recording %s: media URL refused, it is not on Twilio's API host",
        (form.get("RecordingSid") or "")[:64],
    )
    return None


def recording_for(
    form: Mapping[str, str], call: Call, purpose: str, new: bool = False
) -> Recording:
    """The recording of this RecordingSid, added once, with what Twilio says of it.

    A new one is inserted with every field already set: one INSERT, no UPDATE.
    `new` says it is most likely unknown yet (the <Record> action, which comes
    before the recording's callback): the INSERT is then tried first, skipping
    the SELECT and the savepoint.
    """
    sid = (form.get("RecordingSid") or "")[:64]
    if new:
        recording = _insert_once(sid, form, call, purpose)
        if recording is not None:
            return recording
    recording = db.session.scalar(select(Recording).filter_by(recording_sid=sid))
    if recording is None:
        recording = Recording(recording_sid=sid, call_id=call.id, purpose=purpose)
        _apply(recording, form)
        try:
            with db.session.begin_nested():
                db.session.add(recording)
            return recording
        except IntegrityError:
            recording = db.session.scalars(
                select(Recording).filter_by(recording_sid=sid)
            ).one()
    _apply(recording, form)
    return recording


def _insert_once(
    sid: str, form: Mapping[str, str], call: Call, purpose: str
) -> Recording | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row, None if known.

    Core, not the ORM's bulk insert: the row is then handed to the session as
    the persistent object it is, with no SELECT.
    """
    recording = Recording(recording_sid=sid, call_id=call.id, purpose=purpose)
    _apply(recording, form)
    now = recording.updated_at
    recording.status = recording.status or "in-progress"
    recording.created_at = now
    table = Recording.__table__
    values = {
        column.key: getattr(recording, column.key)
        for column in table.columns
        if column.key != "id"
    }
    insert = UPSERTS[db.session.get_bind().dialect.name]
    statement = (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["recording_sid"])
        .returning(table.c.id)
    )
    recording.id = db.session.execute(statement).scalar()
    if recording.id is None:
        return None
    for key, value in values.items():
        setattr(recording, key, value)  # loaded, None included: nothing to SELECT
    make_transient_to_detached(recording)
    db.session.add(recording)
    return recording


@cache
def _fetch_marking() -> Executable:
    """The UPDATE of mark_for_fetch_at_once(), built once: fields Twilio left
    out (bound as NULL) keep what the row has."""
    table = Recording.__table__
    kept = {
        name: func.coalesce(bindparam(name, type_=table.c[name].type), table.c[name])
        for name in ("duration", "channels", "source", "error_code")
    }
    return (
        update(table)
        .where(
            table.c.recording_sid == bindparam("sid"),
            table.c.ticket_id.is_not(None),
            table.c.media_status.is_(None),
            table.c.status.in_(("in-progress", "completed")),
        )
        .values(
            status="completed",
            media_url=bindparam("url"),
            media_status="pending",
            updated_at=bindparam("now", type_=UTCDateTime()),
            **kept,
        )
        .returning(table.c.id)
    )


def mark_for_fetch_at_once(form: Mapping[str, str]) -> int | None:
    """The usual recording callback as one autocommit UPDATE on PostgreSQL.

    Usual: "completed", with its media URL, for a recording the <Record> action
    already attached to its ticket and nobody fetches yet. The row takes what
    Twilio says and is marked for fetching; its id is returned. None when the
    callback is anything else (or on SQLite): recording_for() and the rest then.
    """
    url = (form.get("RecordingUrl") or "")[:500]
    if (
        form.get("RecordingStatus") != "completed"
        or db.engine.dialect.name != "postgresql"
        # Any other host: the slow path refuses it, and says so in the log.
        or not is_twilio_media_url(url, current_app.config["TWILIO_API_BASE_URL"])
    ):
        return None
    params = {
        "sid": (form.get("RecordingSid") or "")[:64],
        "url": url,
        "now": utcnow(),
        "duration": parse_count(form.get("RecordingDuration")),
        "channels": parse_count(form.get("RecordingChannels")),
        "source": (form.get("RecordingSource") or "")[:32] or None,
        "error_code": (form.get("ErrorCode") or "")[:16] or None,
    }
    with autocommit() as connection:
        return connection.execute(_fetch_marking(), params).scalar()


def _apply(recording: Recording, form: Mapping[str, str]) -> None:
    status = (form.get("RecordingStatus") or "")[:16]
    current = _RANK.get(recording.status or "", 0)
    if status in _RANK and _RANK[status] >= current and current < _FINAL:
        recording.status = status
    for field, key in (
        ("duration", "RecordingDuration"),
        ("channels", "RecordingChannels"),
    ):
        value = parse_count(form.get(key))
        if value is not None:
            setattr(recording, field, value)
    url = media_url(form)
    if url is not None:
        recording.media_url = url
    recording.source = (form.get("RecordingSource") or recording.source or "")[
        :32
    ] or None
    recording.error_code = (form.get("ErrorCode") or recording.error_code or "")[
        :16
    ] or None
    recording.updated_at = utcnow()


def attach(recording: Recording, ticket: Ticket) -> None:
    """Attach to the ticket once; later deliveries add nothing to the history."""
    if recording.ticket_id == ticket.id:
        return
    recording.ticket_id = ticket.id
    ticket.record("recording", "system", recording_sid=recording.recording_sid)


def note_absent(recording: Recording, ticket: Ticket) -> None:
    """Twilio heard nothing (16101/16102): say so, so someone calls back."""
    if any(
        event.action == "no_message"
        and (event.detail or {}).get("recording_sid") == recording.recording_sid
        for event in ticket.events
    ):
        return
    ticket.record(
        "no_message",
        "system",
        recording_sid=recording.recording_sid,
        text="no message left — call back",
    )
