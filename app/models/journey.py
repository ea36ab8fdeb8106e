"""The people and records of a request's journey (CONTRACT §8.3, §11): focal
points and their links, the SLA alerts sent, and the erasure register."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.agents import Service
from app.models.types import UTCDateTime, utcnow


class FocalPoint(db.Model):
    """Someone in a department who answers for its requests, often with no
    account. Removing one keeps the row (the history names them) and kills
    their links."""

    __tablename__ = "focal_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    phone_e164: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    # The service's head: the first step of the escalation ladder.
    head: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    service: Mapped[Service] = relationship()


class FocalLink(db.Model):
    """A focal point's personal link to one ticket. Only the token's hash is
    kept: the row is what a link is checked against, so deleting or revoking
    it kills the link however long its signature would last."""

    __tablename__ = "focal_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    focal_point_id: Mapped[int] = mapped_column(
        ForeignKey("focal_points.id"), index=True
    )
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    focal_point: Mapped[FocalPoint] = relationship()


class SlaAlert(db.Model):
    """A reminder or an escalation sent for one due of one ticket. The unique
    key is what makes each one go once, whatever the number of passes or
    workers: whoever inserts the row sends it."""

    __tablename__ = "sla_alerts"
    __table_args__ = (
        UniqueConstraint("ticket_id", "deadline", "level", "due", name="uq_sla_alert"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    deadline: Mapped[str] = mapped_column(String(16))  # take_charge, resolve
    # 0: the reminder at 75%; 1: the service's heads; 2: the supervisors.
    level: Mapped[int] = mapped_column(Integer)
    # The due it was about: a new due (an appeal, a new plan) alerts anew.
    due: Mapped[datetime] = mapped_column(UTCDateTime)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Erasure(db.Model):
    """The register of erasures (CONTRACT §11): what was decided, by whom and
    why, naming the person only by the placeholder that replaced them."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(32))
    # The references of the tickets kept (anonymised) and what was deleted.
    tickets: Mapped[list[str] | None] = mapped_column(JSON)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
