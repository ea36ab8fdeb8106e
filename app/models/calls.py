"""Phone calls, keyed by Twilio's CallSid."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.callers import Caller
from app.models.types import UTCDateTime, utcnow

# Twilio's call statuses in the order a call goes through them; the final ones share
# the last rank so a late "ringing" never overwrites "completed" (CONTRACT §1).
STATUS_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "canceled": 4,
    "failed": 4,
}
FINAL_STATUSES = frozenset(s for s, rank in STATUS_RANK.items() if rank == 4)


# Calls that asked for an agent and have none (yet): the supervisors' live queue
# looks for the recent ones. A small share of all calls, so PostgreSQL and SQLite
# keep only those in the index.
WAITING_FOR_AGENT = text("intent = 'agent' AND agent_id IS NULL")


class Call(db.Model):
    __tablename__ = "calls"
    __table_args__ = (
        # The caller's calls newest first: the screen-pop.
        Index("ix_calls_caller_started_at", "caller_id", "started_at"),
        Index("ix_calls_agent_started_at", "agent_id", "started_at"),
        # The statistics of a period (CONTRACT §10).
        Index("ix_calls_started_at", "started_at"),
        Index(
            "ix_calls_waiting",
            "started_at",
            postgresql_where=WAITING_FOR_AGENT,
            sqlite_where=WAITING_FOR_AGENT,
        ),
        # The line's queue: only calls that ever waited for an agent, a few rows.
        Index(
            "ix_calls_queue",
            "line",
            "queued_at",
            postgresql_where=text("queued_at IS NOT NULL"),
            sqlite_where=text("queued_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    # What Twilio sent in From, kept even when it is no phone number
    # ("anonymous", "client:alice", empty) so the call is never refused.
    from_raw: Mapped[str] = mapped_column(String(64), default="")
    line: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(24), default="inbound")
    status: Mapped[str] = mapped_column(String(16), default="ringing")
    language: Mapped[str | None] = mapped_column(String(2))
    # Set when the caller asked for something that must end in a ticket (an agent,
    # a complaint): if they hang up first, the status callback files a callback.
    intent: Mapped[str | None] = mapped_column(String(16))
    intent_category: Mapped[str | None] = mapped_column(String(64))
    # The agent who took the call: they may listen to its recording.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the caller first joined the line's queue for an agent: their place,
    # kept if the agent they are handed to does not answer.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The statistics' instants (CONTRACT §10, app.services.call_times): when the
    # caller first wanted an agent (rung or queued), when one answered, how long
    # they waited for one and how long they talked.
    wanted_agent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[int | None] = mapped_column(Integer)

    caller: Mapped[Caller | None] = relationship()

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def advance_status(self, status: str) -> bool:
        """Move to `status` unless that would go backwards; True if it moved."""
        if status not in STATUS_RANK or self.is_final:
            return False
        if STATUS_RANK[status] < STATUS_RANK.get(self.status, 0):
            return False
        changed = status != self.status
        self.status = status
        return changed
