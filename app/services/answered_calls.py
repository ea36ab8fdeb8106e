"""A call an agent answers: its ticket, and who is in charge of it (issue #12).

The agent who answers becomes the person in charge of the call's ticket, as if
they had taken it themselves (change_ticket: in the history, taken in charge).
From the screen-pop they may instead attach the call to one of the caller's
open tickets; the ticket opened for the call at the answer then goes, since the
caller never heard of it.
"""

from sqlalchemy import select, update

from app.extensions import db
from app.models import Call, Message, Ticket, TicketStatus, User
from app.models.types import utcnow
from app.services.call_times import agent_answered
from app.services.followups import HELD
from app.services.people import numbers_of_caller
from app.services.tickets import (
    TicketChange,
    change_ticket,
    link_call,
    move,
    ticket_for_call,
)
from app.services.visibility import visible_tickets

# What the screen-pop offers to attach a call to: the requests still being handled.
OPEN_STATUSES = tuple(
    status
    for status in TicketStatus
    if status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
)


def answered(call: Call, agent: User) -> Ticket:
    """The agent's leg is up: the call is theirs, and so is its ticket.

    The same callback twice changes nothing the second time (same assignee).
    """
    call.agent_id = agent.id
    agent_answered(call)
    ticket, _ = ticket_for_call(call, "request", None, call.language or "fr")
    _in_charge(ticket, agent)
    return ticket


def _in_charge(ticket: Ticket, agent: User) -> None:
    """The agent on the line takes the ticket in charge (CONTRACT §8.1).

    As change_ticket assigns, in the history, but without the "sent to the
    service in charge" text: the caller is talking to that person right now,
    and hears the reference in the acknowledgment at the end of the call.
    """
    if ticket.assignee_id == agent.id:
        return
    # The ticket's own status given: change_ticket assigns without texting.
    change_ticket(ticket, TicketChange(assignee=agent, status=ticket.status), agent)
    if ticket.status in (TicketStatus.NEW, TicketStatus.REOPENED):
        move(ticket, TicketStatus.ASSIGNED.value, agent.email)


class AttachError(Exception):
    """An attachment refused; status and code are the API's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def attach_call(call: Call, ticket: Ticket, agent: User) -> None:
    """Link the call the agent holds to one of its caller's open tickets.

    Only a ticket of the call's own person (any of their numbers): the
    visibility rules rely on a call being linked to its caller's tickets only.
    """
    if call.agent_id != agent.id or call.is_final:
        raise AttachError(403, "not_your_call", "you are not on this call")
    if call.caller_id is None or ticket.caller_id not in set(
        db.session.scalars(numbers_of_caller(call.caller_id))
    ):
        raise AttachError(
            409, "other_caller", "this ticket is not the caller's: it cannot be linked"
        )
    if ticket.status not in OPEN_STATUSES:
        raise AttachError(
            409, "ticket_not_open", "a resolved or closed ticket cannot take a call"
        )
    link_call(ticket, call, "attached")
    ticket.record("call_attached", agent.email, call_sid=call.call_sid)
    if ticket.assignee_id is None:
        _in_charge(ticket, agent)
    _withdraw_opened(call, ticket, agent)


def _withdraw_opened(call: Call, kept: Ticket, agent: User) -> None:
    """The ticket opened when the agent answered, if the caller never heard of
    it (its acknowledgment still held for the end of the call), is closed as
    a duplicate of `kept`, and its held texts are never sent."""
    opened = db.session.scalar(select(Ticket).filter_by(origin_call_id=call.id))
    if opened is None or opened.id == kept.id or opened.status == TicketStatus.CLOSED:
        return
    held = select(Message.id).where(
        Message.ticket_id == opened.id,
        Message.template == "acknowledgment",
        Message.status == HELD,
        Message.message_sid.is_(None),
    )
    if db.session.scalar(held.limit(1)) is None:
        return  # the caller was told its reference: it stays theirs
    db.session.execute(
        update(Message)
        .where(
            Message.ticket_id == opened.id,
            Message.status == HELD,
            Message.message_sid.is_(None),
        )
        .values(status="superseded", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    opened.record("duplicate", agent.email, of=kept.display_reference)
    opened.withdrawn = True
    move(opened, TicketStatus.CLOSED.value, agent.email)


def visible_ticket(reference: str, viewer: User) -> Ticket | None:
    """The ticket of this compact reference, if `viewer` may see it."""
    return db.session.scalar(
        select(Ticket).filter_by(reference=reference).where(visible_tickets(viewer))
    )
