"""Who may see which tickets, calls and messages: an agent never sees another
service's, calls and messages included (CONTRACT §6, §7, issue #10).

The rule, in one place:

- Supervisors and admins see everything.
- A ticket: an agent sees the centre's intake (no service yet), their own
  services' tickets and the tickets assigned to them.
- A call: an agent sees the calls they took (calls.agent_id), the calls linked to
  a ticket they see (ticket_calls, or the ticket the call opened:
  tickets.origin_call_id), and the calls linked to no ticket at all, which are
  the centre's intake: whoever answers needs the caller's recent calls.
- A message: an agent sees it when they see its ticket; a message of no ticket
  (a STOP, a question that named no reference) when they took a call of the
  person who sent or received it (from any of their numbers, CONTRACT §8.5).

So whoever sees a ticket sees all its calls and messages: its detail needs no
filter beyond the ticket's own (visible_tickets).

The filters are SQL, for `where()`; `viewer_id` may be a value or a bind
parameter, and a person's numbers a subquery on one, so a statement built once
serves every agent and caller.
"""

from sqlalchemy import BindParameter, ColumnElement, Select, and_, or_, select, true

from app.extensions import db
from app.models import Call, Message, Recording, Ticket, User
from app.models.agents import user_services
from app.models.tickets import ticket_calls

# An id given as a value, or as a bind parameter of a statement built once.
Id = int | BindParameter[int]


def ticket_visible_to(viewer_id: Id) -> ColumnElement[bool]:
    """A filter on Ticket for one agent (supervisors need none)."""
    their_services = select(user_services.c.service_id).where(
        user_services.c.user_id == viewer_id
    )
    return or_(
        Ticket.service_id.is_(None),
        Ticket.service_id.in_(their_services),
        Ticket.assignee_id == viewer_id,
    )


def visible_tickets(user: User) -> ColumnElement[bool]:
    """A filter: supervisors and admins see all; an agent, as ticket_visible_to."""
    if user.is_supervisor:
        return true()
    return ticket_visible_to(user.id)


def caller_calls_visible_to(viewer_id: Id, numbers: Select) -> ColumnElement[bool]:
    """A filter on the calls of one person (Call.caller_id IN numbers, the ids of
    their phone numbers), for one agent.

    A call is linked to a ticket through ticket_calls only by ticket_for_call
    and link_call, both with a ticket of the call's own caller (the follow-up
    menu refuses another phone's reference). So its links are looked for among
    that person's tickets, through their caller index and ticket_calls' primary
    key (ticket_id, call_id): ticket_calls has no index by call, and a lookup by
    call would read the whole table. Computed once per statement (a hashed
    subplan on PostgreSQL), not once per call. The ticket a call opened is found
    by the unique index on tickets.origin_call_id, whoever its caller.
    """
    linked = (
        select(ticket_calls.c.call_id)
        .join(Ticket, Ticket.id == ticket_calls.c.ticket_id)
        .where(Ticket.caller_id.in_(numbers))
    )
    opened = select(Ticket.id).where(Ticket.origin_call_id == Call.id)
    return or_(
        Call.agent_id == viewer_id,
        Call.id.in_(linked.where(ticket_visible_to(viewer_id))),
        opened.where(ticket_visible_to(viewer_id)).exists(),
        and_(Call.id.not_in(linked), ~opened.exists()),
    )


def caller_messages_visible_to(viewer_id: Id, numbers: Select) -> ColumnElement[bool]:
    """A filter on the messages of one person (Message.caller_id IN numbers), for
    one agent: each ticket by its primary key, the calls taken once."""
    its_ticket = select(Ticket.id).where(
        Ticket.id == Message.ticket_id, ticket_visible_to(viewer_id)
    )
    took_a_call = (
        select(Call.id)
        .where(Call.caller_id.in_(numbers), Call.agent_id == viewer_id)
        .exists()
    )
    return or_(
        and_(Message.ticket_id.is_not(None), its_ticket.exists()),
        and_(Message.ticket_id.is_(None), took_a_call),
    )


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
