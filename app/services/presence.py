"""Agents' presence, and who rings next: the longest-idle agent, claimed first.

An agent is claimed for one call (`ringing`) by a guarded UPDATE before being
dialled, so two callers never ring the same agent; the claim is released when
the agent's leg or the caller's call ends. The line's queue is served in arrival
order: only the caller at its head may claim a freed agent.
"""

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update

from app.extensions import db
from app.models import Call, Presence, User
from app.models.agents import agent_lines
from app.models.calls import FINAL_STATUSES
from app.models.types import utcnow

# What an agent may choose; "ringing" is set only by a claim.
STATUSES = ("available", "busy", "offline")
RINGING = "ringing"
# A softphone page beats every 20 s; after this long without one it is gone.
HEARTBEAT_TIMEOUT = timedelta(seconds=60)
# A claim whose callbacks never came (Twilio lost them) frees itself: the agent
# rings for 20 s at most, so a minute is long past any real ring.
CLAIM_LEASE = timedelta(seconds=60)
# A caller still "queued" after this long lost their final callback.
QUEUE_HORIZON = timedelta(hours=2)


class DeviceNotRegistered(Exception):
    """The agent's softphone is not ready: they cannot be rung."""


def presence_of(user: User) -> Presence:
    presence = db.session.get(Presence, user.id)
    if presence is None:
        presence = Presence(user_id=user.id, status="offline")
        db.session.add(presence)
    return presence


def _holds_a_call(presence: Presence) -> bool:
    return presence.call_sid is not None and presence.status in (RINGING, "busy")


def set_status(user: User, status: str, call_sid: str | None = None) -> Presence:
    presence = presence_of(user)
    now = utcnow()
    if status == "available" and presence.device_registered is False:
        raise DeviceNotRegistered
    if status == "available" and call_sid is None and _holds_a_call(presence):
        # Ringing or talking: the call's callbacks free the agent, not the page,
        # or a second caller could claim them mid-call.
        presence.last_seen = now
        return presence
    if presence.status != status:
        presence.status = status
        presence.since = now
    presence.call_sid = call_sid if status == "busy" else None
    presence.last_seen = now
    return presence


def heartbeat(user: User, registered: bool | None = None) -> None:
    presence_of(user).last_seen = utcnow()
    if registered is not None:
        device_changed(user, registered)


def device_changed(user: User, registered: bool) -> Presence:
    """The softphone's device registered or dropped; a dropped one leaves routing."""
    presence = presence_of(user)
    presence.device_registered = registered
    presence.last_seen = utcnow()
    if not registered and presence.status in ("available", RINGING):
        presence.status = "offline"
        presence.since = utcnow()
        presence.call_sid = None
    return presence


def answers_line(line: str) -> ColumnElement[bool]:
    """Staff who answer this line: listed for it, or listed for none (all)."""
    on_line = select(agent_lines.c.user_id).where(agent_lines.c.line == line)
    with_lines = select(agent_lines.c.user_id)
    return or_(User.id.in_(on_line), User.id.not_in(with_lines))


def can_be_rung(now: datetime) -> ColumnElement[bool]:
    """A page that has beaten recently, on a device that has not dropped."""
    return and_(
        Presence.last_seen >= now - HEARTBEAT_TIMEOUT,
        Presence.device_registered.is_not(False),
    )


def _reachable(line: str, statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """Active agents of this line (or of every line) in one of `statuses`, whose
    page has beaten recently and whose device has not dropped."""
    return and_(
        User.active.is_(True),
        Presence.status.in_(statuses),
        can_be_rung(utcnow()),
        answers_line(line),
    )


def _claimable(now) -> ColumnElement[bool]:
    return or_(
        Presence.status == "available",
        and_(Presence.status == RINGING, Presence.since < now - CLAIM_LEASE),
    )


def claim_agent(
    line: str, call_sid: str, exclude: tuple[int, ...] | frozenset[int] = ()
) -> User | None:
    """Hold the longest-idle reachable agent for this call, or None.

    The guarded UPDATE decides: of two requests that picked the same agent, one
    changes the row and the other changes nothing and tries the next agent. On
    PostgreSQL, SKIP LOCKED makes the second pick another agent at once instead
    of waiting for the first to commit.
    """
    now = utcnow()
    for _ in range(5):
        candidate = db.session.scalar(
            select(Presence.user_id)
            .join(User, Presence.user_id == User.id)
            .where(
                _reachable(line, ("available", RINGING)),
                _claimable(now),
                Presence.user_id.not_in(exclude),
            )
            .order_by(Presence.since, Presence.user_id)
            .limit(1)
            .with_for_update(of=Presence, skip_locked=True)
        )
        if candidate is None:
            return None
        claimed = db.session.execute(
            update(Presence)
            .where(Presence.user_id == candidate, _claimable(now))
            .values(status=RINGING, call_sid=call_sid, since=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            return db.session.get(User, candidate)
    return None


def claimed_for(call_sid: str) -> User | None:
    """The agent already held for this call (claimed at the queue's head)."""
    user_id = db.session.scalar(
        select(Presence.user_id).where(
            Presence.call_sid == call_sid, Presence.status == RINGING
        )
    )
    return db.session.get(User, user_id) if user_id is not None else None


def release(
    call_sid: str, outcome: str = "completed", *, talking: bool = False
) -> None:
    """Free the agent held for this call, by how Twilio says their leg ended.

    A failed leg means their softphone cannot be reached: they go offline
    rather than ring for the next caller. Ringing claims only, unless
    `talking`: the call with them ended too.
    """
    held = (RINGING, "busy") if talking else (RINGING,)
    db.session.execute(
        update(Presence)
        .where(Presence.call_sid == call_sid, Presence.status.in_(held))
        .values(
            status="offline" if outcome == "failed" else "available",
            call_sid=None,
            since=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def agents_online(line: str) -> bool:
    """Is anyone signed in for this line (available, ringing or on a call)?"""
    query = (
        select(Presence.user_id)
        .join(User, Presence.user_id == User.id)
        .where(_reachable(line, ("available", RINGING, "busy")))
        .limit(1)
    )
    return db.session.scalar(query) is not None


def agent_for_identity(identity: str) -> User | None:
    if not identity.startswith("agent_") or not identity[6:].isdigit():
        return None
    return db.session.get(User, int(identity[6:]))


# --- the line's queue ----------------------------------------------------------------


def _waiting(line: str) -> ColumnElement[bool]:
    """Calls of this line waiting in its queue for an agent not yet theirs."""
    held = exists().where(Presence.call_sid == Call.call_sid)
    return and_(
        Call.line == line,
        Call.queued_at.is_not(None),
        Call.queued_at >= utcnow() - QUEUE_HORIZON,
        Call.intent == "agent",
        Call.agent_id.is_(None),
        Call.status.not_in(FINAL_STATUSES),
        ~held,
    )


def join_queue(call: Call) -> None:
    """The caller waits; a caller back from an agent who did not answer keeps
    their place."""
    if call.queued_at is None:
        call.queued_at = utcnow()


def callers_ahead(call: Call) -> int:
    """How many callers of the line wait before this one (all of them if it is
    not queued)."""
    query = select(func.count()).select_from(Call).where(_waiting(call.line))
    if call.queued_at is not None:
        query = query.where(
            or_(
                Call.queued_at < call.queued_at,
                and_(Call.queued_at == call.queued_at, Call.id < call.id),
            )
        )
    return db.session.scalar(query.where(Call.id != call.id)) or 0
