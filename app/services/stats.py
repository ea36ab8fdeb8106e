"""The centre's figures over a period (CONTRACT §10), computed by the database.

Every figure is an aggregate of one SELECT per table (calls, tickets created,
tickets resolved, the backlog, ratings, messages): rows never come to Python,
so a year of a big centre costs what its indexes cost. The same SQL runs on
SQLite and PostgreSQL; the two differences (seconds between two instants, a
day in the centre's time zone) are the constructs of app.services.stats_sql.

What each figure counts, as built:
- calls: inbound calls that started in the period. `answered`: an agent took
  it. A call that *waited for an agent* was rung to one or queued for one;
  unanswered, ended, and with no voice message left, it is `abandoned` when it
  waited SHORT_ABANDON_SECONDS or more, else `short_abandoned`.
  `self_service`: ended unanswered without ever wanting an agent (information,
  a status look-up, a complaint left as a message). `voicemails`: calls that
  left a voice message. `abandonment_rate` = abandoned / (answered +
  abandoned); `service_level` = answered within SERVICE_LEVEL_SECONDS / calls
  that waited for an agent (short abandons aside); `asa_seconds` and
  `aht_seconds`: mean wait and talk of the answered calls.
- tickets: the requests created in the period (a ticket withdrawn as another's
  duplicate is none): their counts, escalations, appeals and deadline
  outcomes. A deadline counts once decided: met or missed, or passed while the
  request was still being handled (a request waiting for the citizen is not
  late, its clock is paused). `resolved` and `median_resolution_hours`: the
  requests whose last resolution fell in the period, from their creation.
  `backlog`: the requests open now that were created by the period's end, by
  age now.
- satisfaction: the questions sent and the ratings received in the period.
- messages: the texts to citizens written in the period, by channel; `sent`
  counts every text handed over (Twilio, the mail server, or the log when
  neither is configured), `delivered` and `failed` what came of them.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
    true,
)

from app.extensions import db
from app.models import (
    Call,
    Message,
    Recording,
    Service,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from app.models.tickets import CHANNELS, ticket_calls
from app.models.types import utcnow
from app.services.stats_sql import local_day, seconds_between

NONE = "none"  # the key of tickets with no category or no service yet
MESSAGE_CHANNELS = ("sms", "whatsapp", "email")
HANDED_OVER = ("sent", "logged", "delivered", "undelivered", "failed", "read")
DELIVERED = ("delivered", "read")
FAILED = ("failed", "undelivered")
# Open requests by age in whole days: (name, from, to excluded).
BACKLOG_AGES = (("0-2d", 0, 3), ("3-7d", 3, 8), ("8-30d", 8, 31), ("31d+", 31, None))
CLOSED_STATUSES = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
STILL_HANDLED = tuple(
    status.value
    for status in TicketStatus
    if status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.WAITING)
)


# The days a period may start and end: no instant before 1970 is stored, and
# datetime ends at the year 9999.
EARLIEST = date(1970, 1, 2)
LATEST = date(9999, 12, 29)


@dataclass(frozen=True)
class Scope:
    """A period of the centre's days (both included), a line, a service."""

    first: date
    last: date
    zone: ZoneInfo
    line: str | None = None
    service_id: int | None = None

    @property
    def start(self) -> datetime:
        first = max(self.first, EARLIEST)
        return datetime.combine(first, time.min, self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        after = min(self.last, LATEST) + timedelta(days=1)
        return datetime.combine(after, time.min, self.zone).astimezone(UTC)

    def during(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)


def scope_for(
    first: date, last: date, line: str | None = None, service_id: int | None = None
) -> Scope:
    zone = ZoneInfo(current_app.config["CENTRE_TIMEZONE"])
    return Scope(first, last, zone, line, service_id)


def figures(scope: Scope, now: datetime | None = None) -> dict[str, Any]:
    """CONTRACT §10's answer for this scope."""
    now = now or utcnow()
    return {
        "calls": call_figures(scope),
        "tickets": ticket_figures(scope, now),
        "satisfaction": satisfaction_figures(scope),
        "messages": message_figures(scope),
    }


# --- helpers -------------------------------------------------------------------------


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _mean(value: Any, condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.avg(case((condition, value), else_=None))


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rounded(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


# --- calls ---------------------------------------------------------------------------


def _left_voicemail() -> ColumnElement[bool]:
    return (
        exists()
        .where(Recording.call_id == Call.id, Recording.purpose == "voicemail")
        .correlate(Call)
    )


class CallOutcomes:
    """The conditions of each outcome of a call, as SQL (see the module): of
    the calls table, or of scoped_calls()' rows when given them."""

    def __init__(self, calls: Subquery | None = None) -> None:
        short = current_app.config["SHORT_ABANDON_SECONDS"]
        within = current_app.config["SERVICE_LEVEL_SECONDS"]
        call: Any = Call if calls is None else calls.c
        self.wait_seconds, self.talk_seconds = call.wait_seconds, call.talk_seconds
        self.answered = call.answered_at.is_not(None)
        ended = and_(call.answered_at.is_(None), call.ended_at.is_not(None))
        self.voicemail = _left_voicemail() if calls is None else calls.c.voicemail
        waited = call.wanted_agent_at.is_not(None)
        gave_up = and_(waited, ended, ~self.voicemail)
        # A wait nobody measured is no short one: the caller is not hidden.
        wait = func.coalesce(call.wait_seconds, short)
        self.abandoned = and_(gave_up, wait >= short)
        self.short_abandoned = and_(gave_up, wait < short)
        self.self_service = and_(
            ended,
            call.wanted_agent_at.is_(None),
            or_(call.intent.is_(None), call.intent == "complaint"),
        )
        self.waited = and_(waited, or_(self.answered, ended), ~self.short_abandoned)
        self.in_time = and_(self.answered, call.wait_seconds <= within)


def calls_in(scope: Scope) -> ColumnElement[bool]:
    where = [scope.during(Call.started_at), Call.direction == "inbound"]
    if scope.line:
        where.append(Call.line == scope.line)
    if scope.service_id is not None:
        # A service's calls: those about its requests.
        where.append(
            exists()
            .where(
                ticket_calls.c.call_id == Call.id,
                ticket_calls.c.ticket_id == Ticket.id,
                Ticket.service_id == scope.service_id,
            )
            .correlate(Call)
        )
    return and_(*where)


def scoped_calls(scope: Scope) -> Subquery:
    """The scope's calls, each with whether it left a voice message, asked once.

    The outcomes read that answer up to four times, and PostgreSQL copies a
    subquery's EXISTS into each place that reads it (1.5 s of a year's 3 s at a
    million tickets); OFFSET 0 keeps the subquery as it is written."""
    return (
        select(
            Call.started_at,
            Call.answered_at,
            Call.ended_at,
            Call.wanted_agent_at,
            Call.wait_seconds,
            Call.talk_seconds,
            Call.intent,
            _left_voicemail().label("voicemail"),
        )
        .where(calls_in(scope))
        .offset(0)
        .subquery("scoped_calls")
    )


def _call_columns(outcome: CallOutcomes) -> list[ColumnElement[Any]]:
    return [
        func.count().label("offered"),
        _count(outcome.answered).label("answered"),
        _count(outcome.abandoned).label("abandoned"),
        _count(outcome.short_abandoned).label("short_abandoned"),
        _count(outcome.self_service).label("self_service"),
        _count(outcome.voicemail).label("voicemails"),
        _count(outcome.waited).label("waited"),
        _count(outcome.in_time).label("in_time"),
        _mean(outcome.wait_seconds, outcome.answered).label("asa"),
        _mean(outcome.talk_seconds, outcome.answered).label("aht"),
    ]


def _call_json(row: Any) -> dict[str, Any]:
    answered, abandoned = int(row.answered), int(row.abandoned)
    return {
        "offered": int(row.offered),
        "answered": answered,
        "abandoned": abandoned,
        "short_abandoned": int(row.short_abandoned),
        "self_service": int(row.self_service),
        "voicemails": int(row.voicemails),
        "abandonment_rate": rate(abandoned, answered + abandoned),
        "asa_seconds": _rounded(row.asa),
        "service_level": rate(int(row.in_time), int(row.waited)),
        "aht_seconds": _rounded(row.aht),
    }


def call_figures(scope: Scope) -> dict[str, Any]:
    calls = scoped_calls(scope)
    query = select(*_call_columns(CallOutcomes(calls))).select_from(calls)
    return _call_json(db.session.execute(query).one())


def calls_by_day(scope: Scope) -> dict[date, dict[str, Any]]:
    """call_figures() of each of the scope's days that had calls."""
    calls = scoped_calls(scope)
    started = calls.c.started_at
    day = local_day(started, scope.zone, scope.start, scope.end).label("day")
    query = (
        select(day, *_call_columns(CallOutcomes(calls)))
        .select_from(calls)
        .group_by(day)
        .order_by(day)
    )
    return {_as_date(row.day): _call_json(row) for row in db.session.execute(query)}


def _as_date(day_number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(day_number))


# --- tickets -------------------------------------------------------------------------


def tickets_of(scope: Scope) -> ColumnElement[bool]:
    """The scope's line and service, requests only (not withdrawn duplicates)."""
    where = [Ticket.withdrawn.is_(false())]
    if scope.line:
        where.append(Ticket.line == scope.line)
    if scope.service_id is not None:
        where.append(Ticket.service_id == scope.service_id)
    return and_(*where)


def _outcome(met: Any, due: Any, now: datetime) -> tuple[Any, Any]:
    """(met, decided) counts of one deadline."""
    late = and_(met.is_(None), due < now, Ticket.status.in_(STILL_HANDLED))
    return _count(met.is_(true())), _count(or_(met.is_not(None), late))


TOTALS = (
    "created",
    "escalated",
    "appeals",
    "take_met",
    "take_decided",
    "resolve_met",
    "resolve_decided",
)


def ticket_figures(scope: Scope, now: datetime) -> dict[str, Any]:
    created = _created_figures(
        and_(tickets_of(scope), scope.during(Ticket.created_at)), now
    )
    totals = created["totals"]
    resolved = and_(tickets_of(scope), scope.during(Ticket.resolved_at))
    resolved_count = db.session.scalar(select(func.count()).where(resolved)) or 0
    return {
        "created": totals["created"],
        "by_channel": created["by_channel"],
        "by_category": created["by_category"],
        "by_service": created["by_service"],
        "by_status": created["by_status"],
        "resolved": resolved_count,
        "median_resolution_hours": _median_hours(resolved, resolved_count),
        "take_charge_met_rate": rate(totals["take_met"], totals["take_decided"]),
        "resolve_met_rate": rate(totals["resolve_met"], totals["resolve_decided"]),
        "escalated": totals["escalated"],
        "appeals": totals["appeals"],
        "backlog": backlog(scope, now),
    }


def _created_figures(where: ColumnElement[bool], now: datetime) -> dict[str, Any]:
    """The created requests' totals and counts by channel, category, service and
    status, from one reading of them: grouped by the four together (a few
    thousand groups at most, never the tickets), then added up here. A
    statement per count read a year's tickets five times (0.9 s of 3 s at a
    million tickets)."""
    take_met, take_decided = _outcome(
        Ticket.take_charge_met, Ticket.take_charge_due, now
    )
    resolve_met, resolve_decided = _outcome(Ticket.resolve_met, Ticket.resolve_due, now)
    keys = (Ticket.channel, Ticket.category, Service.key, Ticket.status)
    groups = db.session.execute(
        select(
            *keys,
            func.count().label("created"),
            _count(Ticket.escalation_level > 0).label("escalated"),
            _count(Ticket.appeal.is_(true())).label("appeals"),
            take_met.label("take_met"),
            take_decided.label("take_decided"),
            resolve_met.label("resolve_met"),
            resolve_decided.label("resolve_decided"),
        )
        .select_from(Ticket)
        .outerjoin(Service, Service.id == Ticket.service_id)
        .where(where)
        .group_by(*keys)
    ).all()
    totals = dict.fromkeys(TOTALS, 0)
    by_channel: dict[str, int] = dict.fromkeys(CHANNELS, 0)
    by_category: dict[str, int] = {}
    by_service: dict[str, int] = {}
    by_status: dict[str, int] = dict.fromkeys([s.value for s in TicketStatus], 0)
    for row in groups:
        for name in TOTALS:
            totals[name] += int(row._mapping[name])
        for counts, key in (
            (by_channel, row.channel),
            (by_category, row.category),
            (by_service, row.key),
            (by_status, row.status),
        ):
            counts[key or NONE] = counts.get(key or NONE, 0) + int(row.created)
    return {
        "totals": totals,
        "by_channel": by_channel,
        "by_category": by_category,
        "by_service": by_service,
        "by_status": by_status,
    }


def deadline_outcomes(scope: Scope, now: datetime) -> dict[str, dict[str, int]]:
    """Of the requests created in the scope, how many met and missed each
    deadline (the counts behind the met rates: a deadline counts once decided)."""
    created = and_(tickets_of(scope), scope.during(Ticket.created_at))
    columns = []
    for name, met, due in (
        ("take_charge", Ticket.take_charge_met, Ticket.take_charge_due),
        ("resolve", Ticket.resolve_met, Ticket.resolve_due),
    ):
        met_count, decided = _outcome(met, due, now)
        columns += [met_count.label(f"{name}_met"), decided.label(f"{name}_decided")]
    row = db.session.execute(select(*columns).where(created)).one()._mapping
    return {
        name: {
            "met": int(row[f"{name}_met"]),
            "missed": int(row[f"{name}_decided"]) - int(row[f"{name}_met"]),
        }
        for name in ("take_charge", "resolve")
    }


def _median_hours(where: ColumnElement[bool], count: int) -> float | None:
    """The median of the time to resolve of the `count` requests of `where`, by
    the database: the middle one or two values in order, so only they are read."""
    if not count:
        return None
    taken = seconds_between(Ticket.created_at, Ticket.resolved_at)
    middle = db.session.scalars(
        select(taken)
        .where(where)
        .order_by(taken)
        .offset((count - 1) // 2)
        .limit(2 - count % 2)
    ).all()
    return round(sum(middle) / len(middle) / 3600, 1)


def backlog(scope: Scope, now: datetime) -> dict[str, int]:
    where = and_(
        tickets_of(scope),
        Ticket.status.not_in(CLOSED_STATUSES),
        Ticket.created_at < scope.end,
    )
    columns = []
    for name, low, high in BACKLOG_AGES:
        # Created at most `low` days ago... and more than `high` days ago.
        age = [Ticket.created_at <= now - timedelta(days=low)]
        if high is not None:
            age.append(Ticket.created_at > now - timedelta(days=high))
        columns.append(_count(and_(*age)).label(name))
    row = db.session.execute(select(*columns).where(where)).one()
    return {name: int(row._mapping[name]) for name, _, _ in BACKLOG_AGES}


def tickets_created(scope: Scope) -> int:
    """The requests created in the scope: ticket_figures()'s `created` alone,
    for a page that asks often and needs nothing else (the live wallboard)."""
    query = select(func.count()).where(
        tickets_of(scope), scope.during(Ticket.created_at)
    )
    return db.session.scalar(query) or 0


def tickets_by_day(scope: Scope) -> dict[date, int]:
    """Requests created on each of the scope's days that had some."""
    day = local_day(Ticket.created_at, scope.zone, scope.start, scope.end).label("day")
    query = (
        select(day, func.count())
        .where(tickets_of(scope), scope.during(Ticket.created_at))
        .group_by(day)
        .order_by(day)
    )
    return {_as_date(number): count for number, count in db.session.execute(query)}


# --- satisfaction and messages -------------------------------------------------------


def _events_of(scope: Scope, *actions: str) -> Select[Any]:
    query = select().select_from(TicketEvent).where(TicketEvent.action.in_(actions))
    query = query.where(scope.during(TicketEvent.at))
    if scope.line or scope.service_id is not None:
        query = query.join(Ticket, Ticket.id == TicketEvent.ticket_id).where(
            tickets_of(scope)
        )
    return query


SCORE = TicketEvent.detail["score"].as_integer()


def satisfaction_figures(scope: Scope) -> dict[str, Any]:
    # Questions and ratings in one reading of the period's feedback.
    rating = TicketEvent.action == "rating"
    rated = db.session.execute(
        _events_of(scope, "satisfaction_asked", "rating").add_columns(
            _count(TicketEvent.action == "satisfaction_asked").label("asked"),
            _count(rating).label("answered"),
            _mean(SCORE, rating).label("average"),
            _count(and_(rating, SCORE >= 4)).label("satisfied"),
        )
    ).one()
    return {
        "asked": int(rated.asked),
        "answered": int(rated.answered),
        "average": _rounded(rated.average, 2),
        "csat": rate(int(rated.satisfied), int(rated.answered)),
    }


def satisfaction_by_day(scope: Scope) -> dict[date, dict[str, Any]]:
    """Ratings received on each day that had some: how many, their mean."""
    day = local_day(TicketEvent.at, scope.zone, scope.start, scope.end).label("day")
    query = (
        _events_of(scope, "rating")
        .add_columns(day, func.count().label("answered"), func.avg(SCORE).label("avg"))
        .group_by(day)
        .order_by(day)
    )
    return {
        _as_date(row.day): {"answered": row.answered, "average": _rounded(row.avg, 2)}
        for row in db.session.execute(query)
    }


def message_figures(scope: Scope) -> dict[str, dict[str, int]]:
    query = (
        select(
            Message.channel,
            _count(Message.status.in_(HANDED_OVER)).label("sent"),
            _count(Message.status.in_(DELIVERED)).label("delivered"),
            _count(Message.status.in_(FAILED)).label("failed"),
        )
        .where(
            Message.direction == "outbound",
            Message.audience == "citizen",
            scope.during(Message.created_at),
        )
        .group_by(Message.channel)
    )
    if scope.line or scope.service_id is not None:
        query = query.join(Ticket, Ticket.id == Message.ticket_id).where(
            tickets_of(scope)
        )
    counts = {
        channel: {"sent": 0, "delivered": 0, "failed": 0}
        for channel in MESSAGE_CHANNELS
    }
    for row in db.session.execute(query):
        if row.channel in counts:
            counts[row.channel] = {
                "sent": int(row.sent),
                "delivered": int(row.delivered),
                "failed": int(row.failed),
            }
    return counts
