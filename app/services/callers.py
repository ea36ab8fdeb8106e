"""Callers and their history (the screen-pop)."""

from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Call, Message, Ticket, User
from app.serializers import call_json, message_json, person_json, ticket_json

# Where the app has always found it; it lives with the people it makes.
from app.services.people import caller_for as caller_for
from app.services.people import person_from, person_numbers, person_statement
from app.services.visibility import (
    caller_calls_visible_to,
    caller_messages_visible_to,
    ticket_visible_to,
)

# The screen-pop shows the newest of each: a caller of twenty years stays one
# quick query per list, and an agent reads no further back than this anyway.
HISTORY_LIMIT = 50


@cache
def _history_statements(agent: bool) -> tuple[Select, Select, Select]:
    """The screen-pop's lists, built once: only their parameters vary.

    Each reads every number of the person (CONTRACT §8.5), `person_id` being
    the root's id, through the caller_id indexes. Its tickets and calls need
    no join to their caller, already loaded with the person. An agent's lists
    are filtered by what they may see (visibility), with the agent as one more
    parameter, so one statement serves every agent.
    """
    numbers = person_numbers(bindparam("person_id"))
    tickets = (
        select(Ticket)
        .where(Ticket.caller_id.in_(numbers))
        .options(joinedload(Ticket.assignee), joinedload(Ticket.service))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(HISTORY_LIMIT)
    )
    calls = (
        select(Call)
        .where(Call.caller_id.in_(numbers))
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(HISTORY_LIMIT)
    )
    # Staff notices (a focal point's e-mail about the ticket) are not the caller's.
    messages = (
        select(Message)
        .where(Message.caller_id.in_(numbers), Message.audience == "citizen")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if agent:
        viewer_id = bindparam("viewer_id")
        tickets = tickets.where(ticket_visible_to(viewer_id))
        calls = calls.where(caller_calls_visible_to(viewer_id, numbers))
        messages = messages.where(caller_messages_visible_to(viewer_id, numbers))
    return tickets, calls, messages


def history_for(phone_e164: str, viewer: User | None = None) -> dict[str, Any] | None:
    """Everything the centre knows about a caller and their other numbers, as
    `viewer` may see it (everything when no viewer is given: the app's own use)."""
    agent = viewer is not None and not viewer.is_supervisor
    tickets_of, calls_of, messages_of = _history_statements(agent)
    numbers = list(db.session.scalars(person_statement(), {"phone": phone_e164}))
    person = person_from(numbers, phone_e164)
    if person is None:
        return None
    mine = {"person_id": person.root.id}
    if agent:
        mine["viewer_id"] = viewer.id
    tickets = db.session.scalars(tickets_of, mine)
    calls = db.session.scalars(calls_of, mine)
    messages = db.session.scalars(messages_of, mine)
    return {
        "caller": person_json(person),
        "tickets": [ticket_json(ticket) for ticket in tickets],
        "calls": [call_json(call) for call in calls],
        "messages": [message_json(message) for message in messages],
    }
