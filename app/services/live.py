"""What is happening now, for the live wallboard (CONTRACT §10): callers waiting
for an agent per line, agents by state, and who is on a call since when.

Counts come from the database as aggregates (GROUP BY); only the agents on a
call come back as rows, one each, to show their names.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true

from app.extensions import db
from app.models import Call, Presence, Role, User
from app.models.calls import FINAL_STATUSES
from app.services.presence import QUEUE_HORIZON, answers_line, can_be_rung

# The wallboard's states of an agent, in the order it shows them.
AVAILABLE, RINGING, ON_CALL, AWAY = "available", "ringing", "on_call", "away"
AGENT_STATES = (AVAILABLE, RINGING, ON_CALL, AWAY)


@dataclass(frozen=True)
class LineQueue:
    """The callers of one line waiting for an agent now."""

    line: str
    waiting: int
    longest: timedelta


@dataclass(frozen=True)
class OnCall:
    name: str
    line: str
    talking: timedelta


def _seconds_since(moment: datetime, now: datetime) -> timedelta:
    # A clock a little ahead of the database's never shows a negative time.
    return max(now - moment, timedelta(0))


# --- callers waiting -------------------------------------------------------------


def waiting_for_agent(now: datetime) -> ColumnElement[bool]:
    """Calls handed to an agent or queued for one, not yet answered, not over.

    The wait runs from `wanted_agent_at` (the statistics' own instant), not
    from the call's start: the time in the menu is not waiting. A call still
    open after QUEUE_HORIZON lost its final callback and is not shown.
    """
    return and_(
        # As the partial index ix_calls_waiting is written, so it serves here.
        Call.intent == "agent",
        Call.agent_id.is_(None),
        Call.started_at >= now - QUEUE_HORIZON,
        Call.wanted_agent_at.is_not(None),
        Call.answered_at.is_(None),
        Call.status.not_in(FINAL_STATUSES),
    )


def queues(now: datetime, line: str | None = None) -> list[LineQueue]:
    """Each line with callers waiting: how many, and the longest wait; the
    longest-waiting line first."""
    query = (
        select(
            Call.line,
            func.count().label("waiting"),
            func.min(Call.wanted_agent_at).label("since"),
        )
        .where(waiting_for_agent(now))
        .group_by(Call.line)
        .order_by(func.min(Call.wanted_agent_at), Call.line)
    )
    if line:
        query = query.where(Call.line == line)
    return [
        LineQueue(row.line, int(row.waiting), _seconds_since(row.since, now))
        for row in db.session.execute(query)
    ]


# --- agents ----------------------------------------------------------------------


def _agents(line: str | None) -> ColumnElement[bool]:
    # A supervisor or an administrator who never opened the softphone is no
    # agent, and is not counted away; once they have, they count like one.
    return and_(
        User.active.is_(True),
        or_(User.role == Role.AGENT, Presence.user_id.is_not(None)),
        answers_line(line) if line else true(),
    )


def _state(now: datetime) -> ColumnElement[str]:
    """The wallboard's state of an agent, from their presence and their call.

    On a call while the call they are held for is not over, whatever their
    page does; otherwise one routing cannot ring (no heartbeat for a while, a
    device that dropped) is away, as routing treats them.
    """
    return case(
        (and_(Presence.status == "busy", Call.id.is_not(None)), ON_CALL),
        (or_(Presence.user_id.is_(None), ~can_be_rung(now)), AWAY),
        (Presence.status == "available", AVAILABLE),
        (Presence.status == "ringing", RINGING),
        else_=AWAY,  # busy without a call (not ready), offline
    )


def _with_presence_and_call():
    """Users, their presence if any, and the unfinished call they are held for."""
    return (
        select()
        .select_from(User)
        .outerjoin(Presence, Presence.user_id == User.id)
        .outerjoin(
            Call,
            and_(
                Call.call_sid == Presence.call_sid,
                Call.status.not_in(FINAL_STATUSES),
            ),
        )
    )


def agent_counts(now: datetime, line: str | None = None) -> dict[str, int]:
    """How many agents are in each of AGENT_STATES (every state, 0 included)."""
    state = _state(now).label("state")
    query = (
        _with_presence_and_call()
        .add_columns(state, func.count())
        .where(_agents(line))
        .group_by(state)
    )
    counts = dict.fromkeys(AGENT_STATES, 0)
    for name, count in db.session.execute(query):
        counts[name] += count
    return counts


def agents_on_call(now: datetime, line: str | None = None) -> list[OnCall]:
    """The agents on a call and how long they have talked, the longest first."""
    # A call answered before answered_at was recorded: since the agent went busy.
    start = func.coalesce(Call.answered_at, Presence.since).label("start")
    query = (
        _with_presence_and_call()
        .add_columns(User.name, User.email, Call.line, start)
        .where(_agents(line), _state(now) == ON_CALL)
        .order_by(start, User.email)
    )
    return [
        OnCall(row.name or row.email, row.line, _seconds_since(row.start, now))
        for row in db.session.execute(query)
    ]
