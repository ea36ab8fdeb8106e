"""What moves a request on by itself, on the clock (CONTRACT §8)."""

from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Ticket, TicketEvent, TicketStatus
from app.models.types import utcnow

# Tickets closed a pass at most: a backlog goes over the next passes.
CLOSE_BATCH = 500


def close_unanswered(now: datetime | None = None) -> int:
    """Close the resolved tickets whose caller did not object in CLOSE_AFTER_DAYS.

    Counted from the resolution (the ticket's last change, for those resolved
    before resolutions were recorded). A ticket reopened meanwhile is left: the
    close is a guarded UPDATE. Nothing is sent: the caller has the answer and
    the satisfaction question. Returns how many were closed.
    """
    days = current_app.config["CLOSE_AFTER_DAYS"]
    cutoff = (now or utcnow()) - timedelta(days=days)
    resolved_at = (
        select(func.max(TicketEvent.at))
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.action == "resolution")
        .scalar_subquery()
    )
    due = (
        select(Ticket.id)
        .where(
            Ticket.status == TicketStatus.RESOLVED,
            func.coalesce(resolved_at, Ticket.updated_at) <= cutoff,
        )
        .limit(CLOSE_BATCH)
    )
    closed = 0
    for ticket_id in db.session.scalars(due).all():
        moved = db.session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.status == TicketStatus.RESOLVED)
            .values(status=TicketStatus.CLOSED.value)
        )
        if moved.rowcount == 1:
            ticket = db.session.get(Ticket, ticket_id)
            ticket.record(
                "status", "system", old="resolved", new="closed", after_days=days
            )
            closed += 1
    db.session.commit()
    return closed


def init_app(app: Flask) -> None:
    app.extensions.setdefault("periodic_jobs", []).append((close_unanswered, "default"))
