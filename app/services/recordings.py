"""Recordings reported by Twilio, attached to their call's ticket in any order."""

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Call, Recording, Ticket
from app.models.types import utcnow
from app.services.calls import parse_count

# A recording's status only moves forward: a late "in-progress" changes nothing.
_RANK = {"in-progress": 0, "completed": 1, "absent": 1, "failed": 1}


def recording_for(form: Mapping[str, str], call: Call, purpose: str) -> Recording:
    """The recording of this RecordingSid, added once, with what Twilio says of it.

    A new one is inserted with every field already set: one INSERT, no UPDATE.
    """
    sid = (form.get("RecordingSid") or "")[:64]
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


def _apply(recording: Recording, form: Mapping[str, str]) -> None:
    status = (form.get("RecordingStatus") or "")[:16]
    if status in _RANK and _RANK[status] >= _RANK.get(recording.status or "", 0):
        recording.status = status
    for field, key in (
        ("duration", "RecordingDuration"),
        ("channels", "RecordingChannels"),
    ):
        value = parse_count(form.get(key))
        if value is not None:
            setattr(recording, field, value)
    url = (form.get("RecordingUrl") or "")[:500]
    if url.startswith("https://") or url.startswith("http://"):
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
