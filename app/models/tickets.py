"""Tickets (complaints, requests, callbacks) and their audit history."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    false,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from app.extensions import db
from app.models.agents import Service
from app.models.callers import Caller
from app.models.calls import Call
from app.models.types import UTCDateTime, utcnow
from app.models.users import User


class TicketStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"  # for the citizen (a document, a detail): the clock stops
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


# A closed ticket can only be reopened; everything else may move freely, since a
# centre's real work does not follow a strict line (a request resolved at once).
ALLOWED_FROM_CLOSED = {TicketStatus.REOPENED}

KINDS = ("complaint", "request", "callback")
# Every way a request comes in (CONTRACT §6); the API's ticket lists these.
CHANNELS = ("phone", "sms", "whatsapp", "web", "counter", "email", "ussd")

# The requests still being handled.
OPEN = text("status NOT IN ('resolved', 'closed')")

ticket_calls = Table(
    "ticket_calls",
    db.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("call_id", ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    # A call's tickets (a service's calls, CONTRACT §10): the key starts with
    # the ticket.
    Index("ix_ticket_calls_call_id", "call_id"),
)


def _newest_first(name: str, *columns: str) -> Index:
    """An index for a filter on `columns` whose result is listed newest first:
    the (created_at, id) tail serves the order and the keyset of the next page."""
    return Index(name, *columns, "created_at", "id")


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        _newest_first("ix_tickets_created_at_id"),
        _newest_first("ix_tickets_status_created_at", "status"),
        _newest_first("ix_tickets_assignee_created_at", "assignee_id"),
        # The caller's tickets: the phone filter, the screen-pop, SMS replies.
        _newest_first("ix_tickets_caller_created_at", "caller_id"),
        _newest_first("ix_tickets_line_created_at", "line"),
        # A service's tickets: its list, and its figures' joins by id.
        _newest_first("ix_tickets_service_created_at", "service_id"),
        _newest_first("ix_tickets_category_created_at", "category"),
        # The statistics (CONTRACT §10): resolutions of a period, and the
        # backlog, a small share of all tickets.
        Index("ix_tickets_resolved_at", "resolved_at"),
        Index(
            "ix_tickets_open_created_at",
            "created_at",
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(8), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="complaint")
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.NEW.value)
    category: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    # The e-mail address that filed it (a web form, a mail, Open311): where its
    # acknowledgment and answers go when there is no number to text, and what
    # the public status look-up accepts as its contact (CONTRACT §9).
    contact_email: Mapped[str | None] = mapped_column(String(254))
    line: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    description: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The department in charge; None while the centre's intake handles it.
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    # The call that created the ticket: one ticket per call at most, which is what
    # makes voicemail, recording and hang-up callbacks idempotent in any order.
    origin_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # The clock (CONTRACT §8.2), kept by app.services.sla_clock.
    priority: Mapped[str] = mapped_column(
        String(8), default="normal", server_default="normal"
    )
    appeal: Mapped[bool] = mapped_column(default=False, server_default=false())
    sla_plan: Mapped[str | None] = mapped_column(String(64))
    take_charge_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    take_charge_met: Mapped[bool | None] = mapped_column()
    resolve_met: Mapped[bool | None] = mapped_column()
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(default=0, server_default="0")
    escalation_level: Mapped[int] = mapped_column(default=0, server_default="0")
    # The last time it was resolved: the statistics' time to answer.
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Opened for a call the agent then attached to another of the caller's
    # tickets: not a request of its own, so not counted as one.
    withdrawn: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Legal hold (CONTRACT §11): blocks erasure and the recordings' purge.
    hold: Mapped[bool] = mapped_column(default=False, server_default=false())

    caller: Mapped[Caller | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    service: Mapped[Service | None] = relationship()
    calls: Mapped[list[Call]] = relationship(
        secondary=ticket_calls, order_by=Call.started_at
    )
    events: Mapped[list["TicketEvent"]] = relationship(
        back_populates="ticket",
        order_by="TicketEvent.id",
        cascade="all, delete-orphan",
    )

    @property
    def display_reference(self) -> str:
        return f"{self.reference[:4]}-{self.reference[4:]}"

    @property
    def phone(self) -> str | None:
        return self.caller.phone_e164 if self.caller else None

    def can_move_to(self, status: str) -> bool:
        if status not in TicketStatus.__members__.values() or status == self.status:
            return False
        return self.status != TicketStatus.CLOSED or status in ALLOWED_FROM_CLOSED

    def record(self, action: str, actor: str, **detail: Any) -> "TicketEvent":
        """Append an event to the history and touch updated_at."""
        event = TicketEvent(action=action, actor=actor, detail=detail or None)
        self.updated_at = event.at = utcnow()
        if self.id is not None and "events" in inspect(self).unloaded:
            # Appending would first load the whole history: a ticket listened to
            # a thousand times must not read a thousand rows to add one.
            event.ticket_id = self.id
            object_session(self).add(event)
        else:
            self.events.append(event)
        return event


# The citizen's feedback among the history: what the statistics count by date.
FEEDBACK = text("action IN ('rating', 'satisfaction_asked')")


class TicketEvent(db.Model):
    __tablename__ = "ticket_events"
    __table_args__ = (
        Index(
            "ix_ticket_events_feedback",
            "at",
            postgresql_where=FEEDBACK,
            sqlite_where=FEEDBACK,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who: a staff e-mail, "caller" or "system"; kept as text so the history
    # survives the account being deleted.
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
