"""Retention: recording media is deleted when its time is up; the metadata stays."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select

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


def retention_days(app: Flask, line_number: str | None) -> int:
    """The line's retention_days, else RECORDINGS_RETENTION_DAYS (0: keep forever)."""
    line = current_lines().by_number.get(line_number or "")
    if line is not None and line.retention_days is not None:
        return line.retention_days
    return app.config["RECORDINGS_RETENTION_DAYS"]


def expired(app: Flask, now: datetime | None = None) -> list[Expired]:
    now = now or utcnow()
    rows = db.session.execute(
        select(Recording, Call.line)
        .outerjoin(Call, Recording.call_id == Call.id)
        .where(Recording.media_status == "stored")
        .order_by(Recording.id)
    )
    found = []
    for recording, line in rows:
        days = retention_days(app, line)
        age = now - recording.created_at
        if days and age > timedelta(days=days):
            found.append(Expired(recording, line, age.days, recording.size_bytes or 0))
    return found


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
