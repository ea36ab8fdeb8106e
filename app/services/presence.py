"""Agents' presence, and who rings next: the longest-idle available agent."""

from datetime import timedelta

from sqlalchemy import ColumnElement, and_, or_, select

from app.extensions import db
from app.models import Presence, User
from app.models.agents import agent_lines
from app.models.types import utcnow

STATUSES = ("available", "busy", "offline")
# A softphone page beats every 20 s; after this long without one it is gone.
HEARTBEAT_TIMEOUT = timedelta(seconds=60)


def presence_of(user: User) -> Presence:
    presence = db.session.get(Presence, user.id)
    if presence is None:
        presence = Presence(user_id=user.id, status="offline")
        db.session.add(presence)
    return presence


def set_status(user: User, status: str, call_sid: str | None = None) -> Presence:
    presence = presence_of(user)
    now = utcnow()
    if presence.status != status:
        presence.status = status
        presence.since = now
    presence.call_sid = call_sid if status == "busy" else None
    presence.last_seen = now
    return presence


def heartbeat(user: User) -> None:
    presence_of(user).last_seen = utcnow()


def _reachable(line: str, statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """Active agents of this line (or of every line) in one of `statuses`, whose
    page has beaten recently."""
    on_line = select(agent_lines.c.user_id).where(agent_lines.c.line == line)
    with_lines = select(agent_lines.c.user_id)
    return and_(
        User.active.is_(True),
        Presence.status.in_(statuses),
        Presence.last_seen >= utcnow() - HEARTBEAT_TIMEOUT,
        or_(User.id.in_(on_line), User.id.not_in(with_lines)),
    )


def available_agents(
    line: str, exclude: set[int] | frozenset[int] = frozenset()
) -> list[User]:
    """Agents who may ring now for this line, longest idle first."""
    query = (
        select(User)
        .join(Presence, Presence.user_id == User.id)
        .where(_reachable(line, ("available",)))
        .order_by(Presence.since, User.id)
    )
    return [user for user in db.session.scalars(query) if user.id not in exclude]


def agents_online(line: str) -> bool:
    """Is anyone signed in for this line (available or on a call)?"""
    query = (
        select(Presence.user_id)
        .join(User, Presence.user_id == User.id)
        .where(_reachable(line, ("available", "busy")))
        .limit(1)
    )
    return db.session.scalar(query) is not None


def agent_for_identity(identity: str) -> User | None:
    if not identity.startswith("agent_") or not identity[6:].isdigit():
        return None
    return db.session.get(User, int(identity[6:]))
