"""What the channels of CONTRACT §9 bring in besides tickets: the receipt of each
inbound item (a USSD session, an e-mail's Message-ID...), which makes taking it
exactly once a matter of one unique key, and the files attached to a request."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class ChannelReceipt(db.Model):
    """One inbound item of a channel, taken once: whoever inserts its key
    handles it; a second delivery finds the key and the ticket it led to."""

    __tablename__ = "channel_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<channel>:<the channel's own id>", e.g. "ussd:ATUid_..." or
    # "email:<message-id@host>" (hashed when longer than the column).
    key: Mapped[str] = mapped_column(String(255), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(db.Model):
    """A file that came with a request (an e-mail's attachment), kept in the
    app's storage under a name we made."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="email")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
