"""SMS follow-ups to callers, written to the outbox in the ticket's own transaction."""

from app.extensions import db
from app.jobs import send_message
from app.lines import current_lines
from app.menus import menu_for
from app.models import Message, Ticket
from app.queue import enqueue

OUTBOX = "outbox"


def _queue_sms(ticket: Ticket, template: str, **values: str) -> Message | None:
    if ticket.caller is None:
        return None  # withheld number: the caller heard the reference instead
    line = current_lines().for_number(ticket.line)
    menu = menu_for(line)
    language = menu.language(ticket.language, line.language)
    body = " ".join(
        menu.say(
            language, template, reference=ticket.display_reference, **values
        ).split()
    )
    message = Message(
        ticket_id=ticket.id,
        caller_id=ticket.caller.id,
        direction="outbound",
        to_number=ticket.caller.phone_e164,
        from_number=line.number,
        body=body,
        status="queued",
    )
    db.session.add(message)
    db.session.flush()
    ticket.record("sms_queued", "system", message_id=message.id, template=template)
    # Sent after the commit (commit_and_dispatch), so the worker can see the row.
    db.session.info.setdefault(OUTBOX, []).append(message.id)
    return message


def acknowledge(ticket: Ticket) -> Message | None:
    return _queue_sms(ticket, "sms_acknowledgment")


def resolved(ticket: Ticket, note: str) -> Message | None:
    return _queue_sms(ticket, "sms_resolved", note=note[:300])


def commit_and_dispatch() -> None:
    """Commit, then hand every message written in this transaction to the jobs."""
    db.session.commit()
    for message_id in db.session.info.pop(OUTBOX, []):
        enqueue(send_message, message_id)
