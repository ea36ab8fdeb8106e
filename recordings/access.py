"""Who may listen to a recording (CONTRACT §6)."""

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Call, Recording, Ticket, TicketEvent, User
from app.models.types import utcnow

# One listening session: the player's metadata request, the waveform's download
# and the play itself are one "listened" in the history, not three.
SESSION = timedelta(minutes=10)


def may_listen(user: User, recording: Recording) -> bool:
    """Supervisors and admins: all; an agent: their tickets' and their calls'."""
    if user.is_supervisor:
        return True
    if recording.ticket_id is not None:
        ticket = db.session.get(Ticket, recording.ticket_id)
        if ticket is not None and ticket.assignee_id == user.id:
            return True
    if recording.call_id is not None:
        call = db.session.get(Call, recording.call_id)
        if call is not None and call.agent_id == user.id:
            return True
    return False


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
