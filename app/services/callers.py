"""Callers and their history (the screen-pop)."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Call, Caller, Message, Ticket, User
from app.serializers import call_json, caller_json, message_json, ticket_json
from app.services.ticket_list import ROW_OPTIONS
from app.services.visibility import visible_tickets

# The screen-pop shows the newest of each: a caller of twenty years stays one
# quick query per list, and an agent reads no further back than this anyway.
HISTORY_LIMIT = 50


def caller_for(phone_e164: str | None) -> Caller | None:
    """The caller with this number, created on first contact; None without a number."""
    if not phone_e164:
        return None
    caller = db.session.scalar(select(Caller).filter_by(phone_e164=phone_e164))
    if caller is not None:
        return caller
    caller = Caller(phone_e164=phone_e164)
    # Two webhooks of one new caller may race: the loser reads the winner's row.
    try:
        with db.session.begin_nested():
            db.session.add(caller)
    except IntegrityError:
        caller = db.session.scalar(select(Caller).filter_by(phone_e164=phone_e164))
    return caller


def history_for(phone_e164: str, viewer: User | None = None) -> dict[str, Any] | None:
    """Everything the centre knows about a caller, as `viewer` may see it."""
    caller = db.session.scalar(select(Caller).filter_by(phone_e164=phone_e164))
    if caller is None:
        return None
    query = select(Ticket).filter_by(caller_id=caller.id).options(*ROW_OPTIONS)
    if viewer is not None:
        query = query.where(visible_tickets(viewer))
    tickets = db.session.scalars(
        query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(HISTORY_LIMIT)
    )
    calls = db.session.scalars(
        select(Call)
        .filter_by(caller_id=caller.id)
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(HISTORY_LIMIT)
    )
    messages = db.session.scalars(
        select(Message)
        .filter_by(caller_id=caller.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return {
        "caller": caller_json(caller),
        "tickets": [ticket_json(ticket) for ticket in tickets],
        "calls": [call_json(call) for call in calls],
        "messages": [message_json(message) for message in messages],
    }
