"""What a supervisor watches live: who waits for an agent, and where each agent is."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Call, Presence, User
from app.models.calls import FINAL_STATUSES
from app.models.types import utcnow
from app.services.presence import HEARTBEAT_TIMEOUT

# A call still "waiting" after this long lost its final callback: not shown.
WAITING_HORIZON = timedelta(hours=2)


@dataclass(frozen=True)
class Waiting:
    call: Call
    waited: timedelta


@dataclass(frozen=True)
class AgentState:
    user: User
    status: str
    since: datetime | None
    stale: bool  # the page stopped its heartbeat: it will not be rung


def waiting_calls(now: datetime | None = None) -> list[Waiting]:
    """Callers who asked for an agent, are still on the line, and have none yet."""
    now = now or utcnow()
    calls = db.session.scalars(
        select(Call)
        .where(
            Call.intent == "agent",
            Call.agent_id.is_(None),
            Call.status.not_in(FINAL_STATUSES),
            Call.started_at >= now - WAITING_HORIZON,
        )
        .order_by(Call.started_at)
    )
    return [Waiting(call, now - call.started_at) for call in calls]


def agent_states(now: datetime | None = None) -> list[AgentState]:
    now = now or utcnow()
    rows = db.session.execute(
        select(User, Presence)
        .outerjoin(Presence, Presence.user_id == User.id)
        .where(User.active.is_(True))
        .order_by(User.email)
    )
    return [
        AgentState(
            user,
            presence.status if presence else "offline",
            presence.since if presence else None,
            bool(presence and presence.last_seen < now - HEARTBEAT_TIMEOUT),
        )
        for user, presence in rows
    ]
