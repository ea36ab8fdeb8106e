"""Tickets: opened from calls and other channels, changed by staff, always audited."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Call, Caller, Role, Service, Ticket, TicketStatus, User
from app.models.types import utcnow
from app.references import new_reference
from app.services import focal_points, followups, sla_clock

# What a call's purpose becomes as a ticket.
KIND_FOR_PURPOSE = {
    "complaint": "complaint",
    "callback": "callback",
    "agent": "callback",
    "request": "request",  # a call an agent took: its ticket is opened at once
}


def _insert(ticket: Ticket) -> Ticket:
    """Add with a fresh random reference, drawing again on the rare clash.

    In a savepoint, with no SELECT first: a clash undoes only this insert. An
    IntegrityError that is not a clash (the call's one ticket, filed by another
    delivery meanwhile) goes to the caller.
    """
    for _ in range(20):
        ticket.reference = new_reference()
        try:
            with db.session.begin_nested():
                db.session.add(ticket)
            return ticket
        except IntegrityError:
            if ticket.origin_call_id is not None and _of_call(ticket.origin_call_id):
                raise
    raise RuntimeError("no free ticket reference after 20 draws")


def _of_call(call_id: int) -> Ticket | None:
    return db.session.scalar(select(Ticket).filter_by(origin_call_id=call_id))


def has_ticket(call: Call) -> bool:
    """Whether the call opened a ticket already (its id only: nothing loaded)."""
    found = db.session.scalar(select(Ticket.id).filter_by(origin_call_id=call.id))
    return found is not None


def ticket_for_call(
    call: Call,
    purpose: str,
    category: str | None,
    language: str,
    note: str | None = None,
) -> tuple[Ticket, bool]:
    """The ticket this call opened, opened now if it has none; (ticket, created).

    Voicemail actions, recording callbacks and hang-ups all end here, in any
    order and any number of times: the unique origin_call_id keeps it to one.
    """
    existing = _of_call(call.id)
    if existing is not None:
        return existing, False
    kind = KIND_FOR_PURPOSE.get(purpose, "callback")
    ticket = Ticket(
        kind=kind,
        category=category,
        channel="phone",
        caller=call.caller,
        line=call.line,
        language=language,
        origin_call_id=call.id,
        description=note,
        calls=[call],
    )
    sla_clock.start(ticket)
    # Recorded before the INSERT, so they go with it: no UPDATE of a row just
    # written, no load of the new ticket's empty collections.
    ticket.record(
        "created", "caller", channel="phone", kind=kind, call_sid=call.call_sid
    )
    if note:
        ticket.record("note", "system", text=note)
    try:
        _insert(ticket)
    except IntegrityError:
        # Another delivery of the same callback won the race.
        return db.session.scalars(
            select(Ticket).filter_by(origin_call_id=call.id)
        ).one(), False
    # A call an agent took: the caller gets the reference once the call is over
    # (followups.call_ended), not while the agent is talking to them.
    followups.acknowledge(ticket, hold=purpose == "request" and not call.is_final)
    return ticket, True


def link_call(ticket: Ticket, call: Call, reason: str) -> None:
    if call not in ticket.calls:
        ticket.calls.append(call)
        ticket.record("call", "caller", call_sid=call.call_sid, reason=reason)


def open_ticket(
    caller: Caller | None,
    channel: str,
    category: str | None,
    description: str | None,
    line: str | None,
    language: str,
    actor: str,
    acknowledge: bool = True,
    contact_email: str | None = None,
) -> Ticket:
    """A ticket from another channel: a walk-in, an e-mail, the web form, a text.

    `actor` is the staff e-mail, or "caller" for a text; an inbound text is
    answered in its own reply, so it asks for no separate acknowledgment.
    `contact_email` is the address that filed it, set before the
    acknowledgment so that it may go there when there is no number to text.
    """
    ticket = Ticket(
        kind="request",
        category=category,
        channel=channel,
        caller=caller,
        line=line,
        language=language,
        description=description,
        contact_email=contact_email,
    )
    ticket.record("created", actor, channel=channel)  # inserted with the ticket
    sla_clock.start(ticket)
    _insert(ticket)
    if acknowledge:
        followups.acknowledge(ticket)
    return ticket


def move(ticket: Ticket, status: str, actor: str, **detail: object) -> None:
    """A status change the caller or the system makes: in the history, on the clock."""
    old = ticket.status
    ticket.record("status", actor, old=old, new=status, **detail)
    ticket.status = status
    sla_clock.status_changed(ticket, old, status, utcnow())


class TicketChangeError(ValueError):
    """A change the rules refuse: `status` is the HTTP status the API answers."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class TicketChange:
    status: str | None = None
    assignee: User | None = None
    unassign: bool = False
    category: str | None = None
    service: Service | None = None
    unset_service: bool = False
    note: str | None = None
    priority: str | None = None
    note_public: bool = False  # an internal note (the default) never reaches the caller
    resolution: str | None = None  # the answer, in words the caller receives
    hold: bool | None = None  # legal hold (CONTRACT §11): supervisors and admins


def _take_in_charge(ticket: Ticket, who: str) -> None:
    """A person or a service now owns a request nobody had: it is `assigned`
    (CONTRACT §8.1), which decides whether it was taken in charge in time."""
    if ticket.status in (TicketStatus.NEW, TicketStatus.REOPENED):
        old = ticket.status
        ticket.record("status", who, old=old, new="assigned")
        ticket.status = TicketStatus.ASSIGNED.value
        sla_clock.status_changed(ticket, old, ticket.status, utcnow())
        followups.assigned(ticket)


def change_ticket(ticket: Ticket, change: TicketChange, actor: User | str) -> None:
    """Apply a staff member's change; every field that moves becomes an event.

    `actor` is the staff member, or the name the history gives someone with no
    account (a focal point, `focal_points.actor_name`).

    CONTRACT §8.1: `resolved` needs a resolution, which is what the caller is
    sent; a closed ticket can only be reopened; only a public note or a
    resolution is ever sent to the caller. CONTRACT §8.3: a new service's focal
    points are sent their links, the old one's die.
    """
    who = actor if isinstance(actor, str) else actor.email
    # Someone with no account (a focal point) never may.
    staff_role = None if isinstance(actor, str) else actor.role
    if change.hold is not None and staff_role not in (Role.SUPERVISOR, Role.ADMIN):
        raise TicketChangeError(
            "forbidden",
            "only a supervisor or an admin may put a ticket on legal hold or lift it",
            status=403,
        )
    if (
        change.assignee is not None
        and staff_role == Role.AGENT
        and change.assignee.id != actor.id
    ):
        raise TicketChangeError(
            "forbidden", "agents may only assign tickets to themselves", status=403
        )
    if change.resolution is not None and change.status is None:
        change.status = TicketStatus.RESOLVED.value  # giving the answer resolves
    if change.status == TicketStatus.RESOLVED and change.status != ticket.status:
        if not (change.resolution or "").strip():
            raise TicketChangeError(
                "resolution_required",
                "a resolution (the answer sent to the caller) is required to resolve",
                status=400,
            )
    elif change.resolution is not None and ticket.status == TicketStatus.RESOLVED:
        raise TicketChangeError(
            "already_resolved",
            "the ticket is resolved already: add a public note to tell the caller more",
        )
    elif change.resolution is not None:
        raise TicketChangeError(
            "resolution_without_resolving",
            "a resolution goes with the status 'resolved'",
            status=400,
        )
    if change.status is not None and change.status != ticket.status:
        if not ticket.can_move_to(change.status):
            raise TicketChangeError(
                "invalid_transition",
                f"a ticket cannot go from '{ticket.status}' to '{change.status}'",
            )
        old = ticket.status
        ticket.record("status", who, old=old, new=change.status)
        ticket.status = change.status
        sla_clock.status_changed(ticket, old, change.status, utcnow())
        if change.status == TicketStatus.RESOLVED:
            resolution = (change.resolution or "").strip()
            ticket.record("resolution", who, text=resolution)
            followups.resolved(ticket, resolution)
        elif change.status == TicketStatus.ASSIGNED:
            followups.assigned(ticket)
        elif change.status == TicketStatus.CLOSED and old == TicketStatus.RESOLVED:
            pass  # the caller has the answer and the satisfaction question: enough
        else:
            followups.status_changed(ticket)
    if change.unassign and ticket.assignee_id is not None:
        ticket.record("assigned", who, old=ticket.assignee.email, new=None)
        ticket.assignee = None
    elif change.assignee is not None and change.assignee.id != ticket.assignee_id:
        old = ticket.assignee.email if ticket.assignee else None
        ticket.record("assigned", who, old=old, new=change.assignee.email)
        ticket.assignee = change.assignee
        if change.status is None:
            _take_in_charge(ticket, who)
    replan = False
    if change.category is not None and change.category != ticket.category:
        ticket.record("category", who, old=ticket.category, new=change.category)
        ticket.category = change.category
        replan = True
    if change.priority is not None and change.priority != ticket.priority:
        ticket.record("priority", who, old=ticket.priority, new=change.priority)
        ticket.priority = change.priority
        replan = True
    if replan:
        sla_clock.replan(ticket)
    if change.unset_service and ticket.service_id is not None:
        ticket.record("service", who, old=ticket.service.key, new=None)
        ticket.service = None
        focal_points.service_changed(ticket, who)
    elif change.service is not None and change.service.id != ticket.service_id:
        old = ticket.service.key if ticket.service else None
        ticket.record("service", who, old=old, new=change.service.key)
        ticket.service = change.service
        focal_points.service_changed(ticket, who)
        if change.status is None:
            _take_in_charge(ticket, who)
    if change.hold is not None and change.hold != ticket.hold:
        ticket.record("hold", who, hold=change.hold)
        ticket.hold = change.hold
    if change.note:
        visibility = "public" if change.note_public else "internal"
        ticket.record("note", who, text=change.note, visibility=visibility)
        if change.note_public:
            followups.notify(
                ticket, "public_note", note=change.note[: followups.NOTE_IN_TEXT]
            )
    ticket.updated_at = utcnow()
