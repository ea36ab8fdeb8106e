"""SMS to and from callers; an outbound row is written before it is sent (outbox)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

# Outbound states: held (waits for the end of the caller's call with an agent),
# queued (written, not yet handed to Twilio), sending (a job holds it), then what
# Twilio reports: sent, delivered, undelivered, failed (plus read on WhatsApp).
# "logged" means Twilio is not configured and the text went to the log;
# "superseded" means a later text (the resolution) made it pointless before it
# went. Twilio's callbacks arrive out of order, so a status only replaces one of
# lower rank; the final ones never change but for read.
STATUS_RANK = {
    "held": 0,
    "queued": 0,
    "accepted": 0,
    "scheduled": 0,
    "sending": 1,
    "sent": 2,
    "logged": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "superseded": 3,
    "read": 4,
}


# What the outbox flush looks at: outbound texts Twilio has not taken yet. A
# handful among millions, so only those are kept in the index.
UNSENT = text(
    "direction = 'outbound' AND message_sid IS NULL AND status IN ('queued', 'sending')"
)
# Texts held for a call (a handful too): the flush's stale-holds query.
HELD = text("status = 'held'")


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # The caller's messages newest first: the screen-pop.
        Index("ix_messages_caller_created_at", "caller_id", "created_at"),
        # The statistics of a period (CONTRACT §10).
        Index("ix_messages_created_at", "created_at"),
        Index(
            "ix_messages_outbox",
            "status",
            "created_at",
            postgresql_where=UNSENT,
            sqlite_where=UNSENT,
        ),
        # The due rows of the flush, by when they are due.
        Index(
            "ix_messages_outbox_due",
            "next_attempt_at",
            postgresql_where=UNSENT,
            sqlite_where=UNSENT,
        ),
        Index("ix_messages_held", "id", postgresql_where=HELD, sqlite_where=HELD),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    direction: Mapped[str] = mapped_column(String(8), default="outbound")
    # E.164, whatsapp:+..., or an e-mail address.
    to_number: Mapped[str] = mapped_column(String(254))
    # A number, whatsapp:+..., or a Messaging Service SID (MG...).
    from_number: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # Twilio's code, or ours (opted_out, retries_exhausted).
    error_code: Mapped[str | None] = mapped_column(String(32))
    # sms, whatsapp, email
    channel: Mapped[str] = mapped_column(String(8), default="sms")
    # citizen (the ticket's caller) or staff (a focal point, the person in
    # charge, a supervisor): staff notices never show in the caller's history.
    audience: Mapped[str] = mapped_column(
        String(8), default="citizen", server_default="citizen"
    )
    subject: Mapped[str | None] = mapped_column(String(200))  # e-mail only
    template: Mapped[str | None] = mapped_column(String(32))
    # Quiet hours: not sent before this moment.
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When a job took it (status "sending"); a stale claim is taken over by flush.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The outbox owns retries: sends tried, when the next one is due (None: never
    # tried, its own request hands it over), and why the last one failed.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def advance_status(self, status: str) -> bool:
        """Take Twilio's reported status unless it is older news; True if it moved."""
        if status not in STATUS_RANK or status == self.status:
            return False
        current = STATUS_RANK.get(self.status, 0)
        if STATUS_RANK[status] < current or (current == 3 and status != "read"):
            return False
        self.status = status
        self.updated_at = utcnow()
        return True
