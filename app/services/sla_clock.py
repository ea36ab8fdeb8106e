"""A request's clock (CONTRACT §8.2): its plan, its dues, pauses and outcomes.

Dues are counted in the plan's business time from the ticket's creation (from
the reopening, for an appeal); a `waiting` period moves the pending dues by its
own length in business time. A due is met or missed once, when the ticket is
taken in charge (it leaves `new`) or resolved.
"""

from datetime import datetime, timedelta

from app.models import Ticket, TicketStatus
from app.models.types import utcnow
from app.sla import Plan, current_plans

# Leaving these statuses means the request was taken in charge.
NOT_TAKEN = (TicketStatus.NEW, TicketStatus.REOPENED)


def start(ticket: Ticket, now: datetime | None = None) -> None:
    """A new ticket's plan and dues, counted from its creation."""
    ticket.created_at = ticket.created_at or now or utcnow()
    _plan(ticket, ticket.created_at)


def replan(ticket: Ticket) -> None:
    """Category or priority changed: the plan again, dues from the same start,
    pauses kept; what was decided stays decided."""
    _plan(ticket, ticket.created_at)


def status_changed(ticket: Ticket, old: str, new: str, now: datetime) -> None:
    """Pause on `waiting`, move the dues on leaving it, decide the outcomes."""
    plan = _plan_of(ticket)
    if old == TicketStatus.WAITING and ticket.paused_since is not None:
        gap = plan.calendar.between(ticket.paused_since, now)
        ticket.paused_seconds = (ticket.paused_seconds or 0) + int(gap.total_seconds())
        if ticket.take_charge_met is None and ticket.take_charge_due is not None:
            ticket.take_charge_due = plan.calendar.add(ticket.take_charge_due, gap)
        if ticket.resolve_met is None and ticket.resolve_due is not None:
            ticket.resolve_due = plan.calendar.add(ticket.resolve_due, gap)
        ticket.paused_since = None
    if new == TicketStatus.WAITING:
        ticket.paused_since = now
    if new == TicketStatus.REOPENED:
        ticket.appeal = True
        ticket.take_charge_met = ticket.resolve_met = None
        ticket.paused_seconds = 0
        _plan(ticket, now)
        return
    if old in NOT_TAKEN and new not in NOT_TAKEN and ticket.take_charge_met is None:
        ticket.take_charge_met = _met(ticket.take_charge_due, now)
    if new == TicketStatus.RESOLVED:
        ticket.resolved_at = now
        if ticket.resolve_met is None:
            ticket.resolve_met = _met(ticket.resolve_due, now)


def _plan(ticket: Ticket, since: datetime) -> None:
    plan = current_plans().plan_for(
        ticket.category, ticket.priority or "normal", appeal=bool(ticket.appeal)
    )
    ticket.sla_plan = plan.name
    paused = timedelta(seconds=ticket.paused_seconds or 0)
    if ticket.take_charge_met is None:
        ticket.take_charge_due = _due(plan, since, plan.take_charge, paused)
    if ticket.resolve_met is None:
        ticket.resolve_due = _due(plan, since, plan.resolve, paused)


def _plan_of(ticket: Ticket) -> Plan:
    plans = current_plans()
    return plans.named(ticket.sla_plan or "default") or plans.plan_for(
        ticket.category, ticket.priority or "normal"
    )


def _due(
    plan: Plan, since: datetime, deadline: timedelta | None, paused: timedelta
) -> datetime | None:
    return None if deadline is None else plan.calendar.add(since, deadline + paused)


def _met(due: datetime | None, now: datetime) -> bool | None:
    return None if due is None else now <= due
