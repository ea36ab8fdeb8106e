"""Callers and their history (the screen-pop)."""

from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Call, Caller, Message, Ticket, User
from app.serializers import call_json, caller_json, message_json, ticket_json
from app.services.visibility import (
    caller_calls_visible_to,
    caller_messages_visible_to,
    ticket_visible_to,
)

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


@cache
def _history_statements(agent: bool) -> tuple[Select, Select, Select, Select]:
    """The screen-pop's four queries, built once: only their parameters vary.

    Its tickets need no join to their caller, already loaded by the first. An
    agent's lists are filtered by what they may see (visibility), with the
    agent as one more parameter, so one statement serves every agent.
    """
    caller_id = bindparam("caller_id")
    caller = select(Caller).where(Caller.phone_e164 == bindparam("phone"))
    tickets = (
        select(Ticket)
        .where(Ticket.caller_id == caller_id)
        .options(joinedload(Ticket.assignee), joinedload(Ticket.service))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(HISTORY_LIMIT)
    )
    calls = (
        select(Call)
        .where(Call.caller_id == caller_id)
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(HISTORY_LIMIT)
    )
    messages = (
        select(Message)
        .where(Message.caller_id == caller_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if agent:
        viewer_id = bindparam("viewer_id")
        tickets = tickets.where(ticket_visible_to(viewer_id))
        calls = calls.where(caller_calls_visible_to(viewer_id, caller_id))
        messages = messages.where(caller_messages_visible_to(viewer_id, caller_id))
    return caller, tickets, calls, messages


def history_for(phone_e164: str, viewer: User | None = None) -> dict[str, Any] | None:
    """Everything the centre knows about a caller, as `viewer` may see it
    (everything when no viewer is given: the app's own use)."""
    agent = viewer is not None and not viewer.is_supervisor
    by_phone, tickets_of, calls_of, messages_of = _history_statements(agent)
    caller = db.session.scalar(by_phone, {"phone": phone_e164})
    if caller is None:
        return None
    mine = {"caller_id": caller.id}
    if agent:
        mine["viewer_id"] = viewer.id
    tickets = db.session.scalars(tickets_of, mine)
    calls = db.session.scalars(calls_of, mine)
    messages = db.session.scalars(messages_of, mine)
    return {
        "caller": caller_json(caller),
        "tickets": [ticket_json(ticket) for ticket in tickets],
        "calls": [call_json(call) for call in calls],
        "messages": [message_json(message) for message in messages],
    }
