"""Agents' services (the centre's focal points), lines, and presence."""

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

user_services = Table(
    "user_services",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    ),
)

# The lines an agent answers; an agent with none answers every line.
agent_lines = Table(
    "agent_lines",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("line", String(32), primary_key=True),
)


class Service(db.Model):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class Presence(db.Model):
    """available, ringing (claimed for one call), busy (on a call, or not ready),
    offline. `call_sid` names the call a ringing or busy agent is held for."""

    __tablename__ = "presence"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default="offline")
    # Since when in this status: the longest-idle available agent rings first.
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The browser's last sign of life; without one for a while: offline.
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    # What the softphone last said of its Twilio device: None when no page ever
    # reported (a desktop integration through the API), False once it dropped.
    device_registered: Mapped[bool | None] = mapped_column(Boolean)
