"""Playback bookkeeping: when a playback starts, and who listened, once a session."""

import logging
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Recording, Ticket, TicketEvent, User
from app.models.types import utcnow

log = logging.getLogger(__name__)

# One listening session: the player's metadata request, the waveform's download
# and the play itself are one "listened" in the history, not three.
SESSION = timedelta(minutes=10)


def is_first_range(range_header: str | None) -> bool:
    """A playback starts with no Range or one from byte 0; seeks come later.

    It decides only whether the grant of a running playback may be reused,
    never whether the request is audited: a client chooses its Range.
    """
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


def audit_listening(recording: Recording, user: User) -> None:
    """Say who listened: every request checked in full comes here, whatever its
    Range, and one "listened" per person, recording and SESSION is written."""
    log.info("recording %s played to user %s", recording.id, user.id)
    if recording.ticket_id is None or listened_lately(
        recording.ticket_id, user.email, recording.id
    ):
        return
    ticket = db.session.get(Ticket, recording.ticket_id)
    ticket.record("listened", user.email, recording_id=recording.id)
    db.session.commit()
