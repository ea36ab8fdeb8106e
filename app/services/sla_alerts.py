"""Reminders and escalations on the clock (CONTRACT §8.3).

For each pending deadline of an open ticket (taking in charge while it is
`new` or `reopened`, the answer until it is resolved; none while `waiting`, its
clock being stopped):
- level 0, at 75% of the deadline in business time: the person in charge is
  reminded (the assignee; else the service's focal points; else the supervisors);
- level 1, once the due has passed: the service's head focal points (the
  supervisors when the service has none);
- level 2, half the deadline again later: the centre's supervisors.
When a pass finds several levels reached at once (the job did not run for a
while), only the highest is sent: a reminder after the escalation is noise.

Each alert is a row of `sla_alerts` whose unique key (ticket, deadline, level,
due) is inserted before anything is sent, in the transaction that writes the
notices: whoever inserts it sends it, a second pass or worker gets the
conflict and sends nothing. A due that moves (a pause) or a new plan (an
appeal) is a new due, alerted afresh.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import FocalPoint, Role, SlaAlert, Ticket, TicketStatus, User
from app.models.types import utcnow
from app.notice_texts import notice_texts
from app.services import followups
from app.services.notices import Recipient, local_time, notify_staff
from app.services.sla_clock import NOT_TAKEN
from app.sla import Plan, current_plans

DEADLINES = ("take_charge", "resolve")
REMIND_AT = 0.75
# Tickets looked at in one pass at most.
BATCH = 1000
EVENTS = {0: "reminder", 1: "escalation_service", 2: "escalation_centre"}
CLOSED = (TicketStatus.WAITING, TicketStatus.RESOLVED, TicketStatus.CLOSED)


@dataclass(frozen=True)
class Step:
    deadline: str
    level: int
    due: datetime


def reached(ticket: Ticket, plan: Plan, now: datetime) -> list[Step]:
    """The highest alert each pending deadline of the ticket has reached."""
    if ticket.status in CLOSED:
        return []
    steps = []
    for deadline in DEADLINES:
        due = getattr(ticket, f"{deadline}_due")
        length: timedelta | None = getattr(plan, deadline)
        if due is None or length is None:
            continue
        if getattr(ticket, f"{deadline}_met") is not None:
            continue  # decided: nothing left to chase
        if deadline == "take_charge" and ticket.status not in NOT_TAKEN:
            continue
        if now >= plan.calendar.add(due, length / 2):
            level = 2
        elif now >= due:
            level = 1
        elif plan.calendar.between(now, due) <= length * (1 - REMIND_AT):
            level = 0
        else:
            continue
        steps.append(Step(deadline, level, due))
    return steps


def check(now: datetime | None = None) -> dict[str, int]:
    """One pass over the open tickets; returns how many reminders and
    escalations this pass sent (others may have been sent by another worker)."""
    now = now or utcnow()
    plans = current_plans()
    sent = {"reminders": 0, "escalations": 0}
    for ticket_id in db.session.scalars(_candidates(now, _horizon(now))).all():
        ticket = db.session.get(Ticket, ticket_id)
        plan = plans.named(ticket.sla_plan or "default") or plans.named("default")
        for step in reached(ticket, plan, now):
            if _alert(ticket, step, now):
                sent["reminders" if step.level == 0 else "escalations"] += 1
        followups.commit_and_dispatch()
    return sent


def _horizon(now: datetime) -> datetime:
    """Dues later than this cannot have a reminder due yet: a quarter of the
    longest plan's business days is far less than twice their number of
    calendar days. Tickets due later are not read at all."""
    longest = max(
        (
            length / plan.calendar.day_length
            for plan in current_plans().plans
            for length in (plan.take_charge, plan.resolve)
            if length is not None
        ),
        default=0,
    )
    return now + timedelta(days=max(30.0, 2 * longest))


def _candidates(now: datetime, horizon: datetime):
    pending = [
        and_(
            Ticket.take_charge_met.is_(None),
            Ticket.take_charge_due <= horizon,
            Ticket.status.in_([status.value for status in NOT_TAKEN]),
        ),
        and_(Ticket.resolve_met.is_(None), Ticket.resolve_due <= horizon),
    ]
    return (
        select(Ticket.id)
        .where(Ticket.status.not_in([status.value for status in CLOSED]), or_(*pending))
        .order_by(Ticket.id)
        .limit(BATCH)
    )


def _alert(ticket: Ticket, step: Step, now: datetime) -> bool:
    """Send one alert unless it went already; True if this pass sent it."""
    try:
        with db.session.begin_nested():
            db.session.add(
                SlaAlert(
                    ticket_id=ticket.id,
                    deadline=step.deadline,
                    level=step.level,
                    due=step.due,
                    at=now,
                )
            )
    except IntegrityError:
        return False  # sent before, by an earlier pass or another worker
    recipients = _recipients(ticket, step.level)
    lang = current_app.config["STAFF_LANGUAGE"]
    notify_staff(
        ticket,
        EVENTS[step.level],
        recipients,
        deadline=notice_texts().word(step.deadline, lang),
        due=local_time(step.due),
    )
    ticket.escalation_level = max(ticket.escalation_level or 0, step.level)
    ticket.record(
        "sla_reminder" if step.level == 0 else "escalation",
        "system",
        deadline=step.deadline,
        level=step.level,
        due=step.due.isoformat(),
        notified=[person.name for person in recipients],
    )
    return True


def _recipients(ticket: Ticket, level: int) -> list[Recipient]:
    if level == 0 and ticket.assignee is not None and ticket.assignee.active:
        return [_staff(ticket.assignee)]
    if level < 2 and ticket.service_id is not None:
        focal = select(FocalPoint).where(
            FocalPoint.service_id == ticket.service_id, FocalPoint.removed_at.is_(None)
        )
        if level == 1:
            focal = focal.where(FocalPoint.head.is_(True))
        people = [
            Recipient(point.name, point.phone_e164, point.email)
            for point in db.session.scalars(focal.order_by(FocalPoint.id))
        ]
        if people:
            return people
    return _supervisors()


def _supervisors() -> list[Recipient]:
    """The centre's supervisors; its admins when it has none."""
    for role in (Role.SUPERVISOR, Role.ADMIN):
        users = db.session.scalars(
            select(User).where(User.role == role, User.active.is_(True))
        ).all()
        if users:
            return [_staff(user) for user in users]
    return []


def _staff(user: User) -> Recipient:
    return Recipient(user.name or user.email, email=user.email)


sla_cli = AppGroup("sla", help="The requests' clock (CONTRACT §8.3).")


@sla_cli.command("check")
def check_command() -> None:
    """Send the reminders and escalations due now (the scheduler: each minute)."""
    sent = check()
    click.echo(
        f"{sent['reminders']} reminder(s), {sent['escalations']} escalation(s) sent"
    )


def init_app(app: Flask) -> None:
    app.extensions.setdefault("periodic_jobs", []).append((check, "default"))
    app.cli.add_command(sla_cli)
