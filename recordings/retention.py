"""Retention: recording media is deleted when its time is up; the metadata stays."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import ColumnElement, and_, or_, select, true

from app.extensions import db
from app.lines import current_lines
from app.models import Call, Recording, Ticket
from app.models.types import utcnow
from recordings.storage import storage_for


@dataclass(frozen=True)
class Expired:
    recording: Recording
    line: str | None
    age_days: int
    size: int


def past_retention(app: Flask, now: datetime) -> ColumnElement[bool] | None:
    """The recordings whose time is up, as SQL over Recording outer-joined to its
    Call: a line's retention_days, else RECORDINGS_RETENTION_DAYS (a recording
    without a call or on an unknown line takes that); 0 keeps forever. None when
    everything is kept forever."""
    own = {
        number: line.retention_days
        for number, line in current_lines().by_number.items()
        if line.retention_days is not None
    }
    arms = [
        and_(Call.line == number, Recording.created_at < now - timedelta(days=days))
        for number, days in own.items()
        if days
    ]
    default = app.config["RECORDINGS_RETENTION_DAYS"]
    if default:
        others = or_(Call.line.is_(None), Call.line.not_in(list(own))) if own else true()
        arms.append(and_(others, Recording.created_at < now - timedelta(days=default)))
    return or_(*arms) if arms else None


def expired(app: Flask, now: datetime | None = None) -> list[Expired]:
    """What the purge would delete, chosen by the database (an index on
    media_status and created_at), so only the expired rows are read."""
    now = now or utcnow()
    condition = past_retention(app, now)
    if condition is None:
        return []
    rows = db.session.execute(
        select(Recording, Call.line)
        .outerjoin(Call, Recording.call_id == Call.id)
        .where(Recording.media_status == "stored", condition)
        .order_by(Recording.id)
    )
    return [
        Expired(
            recording,
            line,
            (now - recording.created_at).days,
            recording.size_bytes or 0,
        )
        for recording, line in rows
    ]


def purge(app: Flask, items: list[Expired]) -> None:
    """Delete the media, keep the row, mark the ticket: the history stays whole."""
    storage = storage_for(app)
    for item in items:
        recording = item.recording
        if recording.storage_key:
            storage.delete(recording.storage_key)
        recording.media_status = "purged"
        recording.purged_at = utcnow()
        if recording.ticket_id is not None:
            ticket = db.session.get(Ticket, recording.ticket_id)
            ticket.record(
                "recording_purged",
                "system",
                recording_sid=recording.recording_sid,
                age_days=item.age_days,
            )
        db.session.commit()
