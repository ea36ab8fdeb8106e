"""Playback bookkeeping: when a playback starts, and one history line per session."""

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import TicketEvent
from app.models.types import utcnow

# One listening session: the player's metadata request, the waveform's download
# and the play itself are one "listened" in the history, not three.
SESSION = timedelta(minutes=10)


def is_first_range(range_header: str | None) -> bool:
    """A playback starts with no Range or one from byte 0; seeks come later."""
    if not range_header:
        return True
    return range_header.replace(" ", "").lower().startswith("bytes=0-")


def listened_lately(ticket_id: int, email: str, recording_id: int) -> bool:
    """Has this person started this recording within the last listening session?"""
    recent = db.session.scalars(
        select(TicketEvent.detail).where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.action == "listened",
            TicketEvent.actor == email,
            TicketEvent.at >= utcnow() - SESSION,
        )
    )
    return any((detail or {}).get("recording_id") == recording_id for detail in recent)
