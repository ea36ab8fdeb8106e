"""Follow-ups to callers, written to the outbox in the ticket's own transaction.

A message row is committed with the ticket change that caused it, then handed
to a job; if Redis is down the row simply stays queued, and the periodic flush
(or `flask sms flush`) hands it over later. Nothing is lost between the two.
"""

from datetime import datetime, timedelta

from rq import Callback
from sqlalchemy import or_, select

from app.extensions import db
from app.jobs import CLAIM_LEASE, mark_failed, send_message
from app.lines import Line, current_lines
from app.models import Message, Ticket
from app.models.types import utcnow
from app.queue import enqueue
from app.sms_text import sms_texts

OUTBOX = "outbox"


def _addresses(line: Line, phone: str, whatsapp: bool) -> tuple[str, str, str]:
    """(channel, to, from) for one caller on one line."""
    if whatsapp:
        return "whatsapp", f"whatsapp:{phone}", f"whatsapp:{line.number}"
    return "sms", phone, line.messaging_service_sid or line.number


def notify(ticket: Ticket, template: str, **values: str) -> Message | None:
    """Queue one follow-up for the ticket's caller, unless they cannot get one."""
    caller = ticket.caller
    if caller is None or caller.sms_opt_out:
        return None  # withheld number, or the caller said STOP
    line = current_lines().for_number(ticket.line)
    texts = sms_texts()
    body = texts.render(
        template,
        ticket.language,
        accents=line.sms_accents,
        reference=ticket.display_reference,
        status=texts.status(ticket.language, ticket.status),
        line=line.number,
        **values,
    )
    channel, to, from_ = _addresses(
        line, caller.phone_e164, line.whatsapp and caller.uses_whatsapp
    )
    now = utcnow()
    allowed = line.sms_allowed_at(now)
    message = Message(
        ticket_id=ticket.id,
        caller_id=caller.id,
        direction="outbound",
        channel=channel,
        to_number=to,
        from_number=from_,
        body=body,
        template=template,
        status="queued",
        send_after=allowed if allowed > now else None,
    )
    db.session.add(message)
    db.session.flush()
    ticket.record("sms_queued", "system", message_id=message.id, template=template)
    db.session.info.setdefault(OUTBOX, []).append(message.id)
    return message


def acknowledge(ticket: Ticket) -> Message | None:
    return notify(ticket, "acknowledgment")


def assigned(ticket: Ticket) -> Message | None:
    return notify(ticket, "assigned")


def status_changed(ticket: Ticket) -> Message | None:
    return notify(ticket, "status_changed")


def resolved(ticket: Ticket, note: str) -> None:
    notify(ticket, "resolved", note=note[:300])
    if notify(ticket, "satisfaction") is not None:
        ticket.record("satisfaction_asked", "system")


def dispatch(message_id: int, send_after: datetime | None = None) -> bool:
    """Hand one queued message to a job (for later, in quiet hours)."""
    return enqueue(
        send_message,
        message_id,
        queue="notify",
        at=send_after,
        on_failure=Callback(mark_failed),
    )


def commit_and_dispatch() -> None:
    """Commit, then hand every message written in this transaction to the jobs."""
    db.session.commit()
    for message_id in db.session.info.pop(OUTBOX, []):
        message = db.session.get(Message, message_id)
        if message is not None:
            dispatch(message.id, message.send_after)


def flush_outbox(older_than: timedelta = timedelta(seconds=30)) -> int:
    """Hand over every message still waiting: Redis was down, or quiet hours ended.

    Messages younger than `older_than` are left to the dispatch of their own
    request; returns how many were handed over.
    """
    now = utcnow()
    waiting = select(Message.id).where(
        Message.direction == "outbound",
        Message.message_sid.is_(None),
        or_(Message.send_after.is_(None), Message.send_after <= now),
        or_(
            (Message.status == "queued") & (Message.created_at <= now - older_than),
            (Message.status == "sending") & (Message.claimed_at <= now - CLAIM_LEASE),
        ),
    )
    ids = list(db.session.scalars(waiting.order_by(Message.id)))
    return sum(1 for message_id in ids if dispatch(message_id))
