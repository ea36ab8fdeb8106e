"""Retention: recording media is deleted when its time is up; the metadata stays.

A ticket under legal hold keeps its recordings however old (CONTRACT §11)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)

from app.extensions import db
from app.lines import current_lines
from app.models import Call, Recording, Ticket
from app.models.types import UTCDateTime, utcnow
from recordings.storage import storage_for


@dataclass(frozen=True)
class Expired:
    recording: Recording
    line: str | None
    age_days: int
    size: int


# Expired recordings are read this many at a time, oldest first.
BATCH = 1000


@dataclass(frozen=True)
class Retention:
    condition: ColumnElement[bool]  # over Recording outer-joined to its Call
    cutoff: datetime  # nothing created at or after this instant is expired


def past_retention(app: Flask, now: datetime) -> Retention | None:
    """The recordings whose time is up, as SQL: a line's retention_days, else
    RECORDINGS_RETENTION_DAYS (a recording without a call or on an unknown line
    takes that); 0 keeps forever. None when everything is kept forever."""
    own = {
        number: line.retention_days
        for number, line in current_lines().by_number.items()
        if line.retention_days is not None
    }
    arms, kept = [], []
    for number, days in own.items():
        if days:
            cutoff = now - timedelta(days=days)
            arms.append(and_(Call.line == number, Recording.created_at < cutoff))
            kept.append(days)
    default = app.config["RECORDINGS_RETENTION_DAYS"]
    if default:
        others = (
            or_(Call.line.is_(None), Call.line.not_in(list(own))) if own else true()
        )
        arms.append(and_(others, Recording.created_at < now - timedelta(days=default)))
        kept.append(default)
    if not arms:
        return None
    return Retention(or_(*arms), now - timedelta(days=min(kept)))


def _past(query: Select, retention: Retention) -> Select:
    """`query` over the stored recordings past their time, with their call and
    their ticket (outer joins, each by key)."""
    return (
        query.outerjoin(Call, Recording.call_id == Call.id)
        .outerjoin(Ticket, Recording.ticket_id == Ticket.id)
        .where(
            Recording.media_status == "stored",
            # Implied by the condition, but only written out can the index use it.
            Recording.created_at < retention.cutoff,
            retention.condition,
        )
    )


def kept_for_hold(app: Flask, now: datetime | None = None) -> int:
    """How many recordings past their time are kept for a ticket on legal hold."""
    retention = past_retention(app, now or utcnow())
    if retention is None:
        return 0
    query = _past(select(func.count(Recording.id)), retention).where(Ticket.hold)
    return db.session.scalar(query) or 0


def expired(app: Flask, now: datetime | None = None) -> list[Expired]:
    """What the purge would delete, oldest first, chosen by the database.

    Read in batches in the order of the (media_status, created_at) index: the
    planner cannot tell that stored recordings are the young ones (older ones
    were purged), and without the LIMIT it may expect thousands of rows and scan
    every call to join them; a batch joins each row to its call by key.
    """
    now = now or utcnow()
    retention = past_retention(app, now)
    if retention is None:
        return []
    query = (
        _past(select(Recording, Call.line), retention)
        # A ticket under legal hold keeps its recordings (CONTRACT §11).
        .where(or_(Ticket.id.is_(None), not_(Ticket.hold)))
        .order_by(Recording.created_at, Recording.id)
        .limit(BATCH)
    )
    found: list[Expired] = []
    after = None
    while True:
        batch = query
        if after is not None:
            batch = query.where(
                tuple_(Recording.created_at, Recording.id)
                > tuple_(literal(after.created_at, UTCDateTime), literal(after.id))
            )
        rows = db.session.execute(batch).all()
        found += [
            Expired(
                recording,
                line,
                (now - recording.created_at).days,
                recording.size_bytes or 0,
            )
            for recording, line in rows
        ]
        if len(rows) < BATCH:
            return found
        after = rows[-1][0]


def purge(app: Flask, items: list[Expired]) -> None:
    """Delete the media, keep the row, mark the ticket: the history stays whole."""
    storage = storage_for(app)
    for item in items:
        recording = item.recording
        ticket = (
            db.session.get(Ticket, recording.ticket_id)
            if recording.ticket_id is not None
            else None
        )
        if ticket is not None and ticket.hold:
            continue  # put on hold since `expired` chose it
        if recording.storage_key:
            storage.delete(recording.storage_key)
        recording.media_status = "purged"
        recording.purged_at = utcnow()
        if ticket is not None:
            ticket.record(
                "recording_purged",
                "system",
                recording_sid=recording.recording_sid,
                age_days=item.age_days,
            )
        db.session.commit()
