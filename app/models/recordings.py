"""Recordings Twilio made of voicemails and agent calls, keyed by RecordingSid."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.calls import Call
from app.models.types import UTCDateTime, utcnow

VOICEMAIL = text("purpose = 'voicemail'")


class Recording(db.Model):
    __tablename__ = "recordings"
    __table_args__ = (
        # Stalled fetches (pending, fetching) and the retention purge (stored,
        # older than a date).
        Index("ix_recordings_media_status_created_at", "media_status", "created_at"),
        # Whether a call left a voice message (the statistics, CONTRACT §10).
        Index(
            "ix_recordings_voicemail_call_id",
            "call_id",
            postgresql_where=VOICEMAIL,
            sqlite_where=VOICEMAIL,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    # Twilio's RecordingStatus: in-progress, completed, absent, failed.
    status: Mapped[str] = mapped_column(String(16), default="in-progress")
    purpose: Mapped[str] = mapped_column(String(16), default="voicemail")
    duration: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(32))
    media_url: Mapped[str | None] = mapped_column(String(500))
    error_code: Mapped[str | None] = mapped_column(String(16))
    # Our own copy: pending, fetching, stored, failed, purged (None: nothing to fetch).
    media_status: Mapped[str | None] = mapped_column(String(16))
    storage_key: Mapped[str | None] = mapped_column(String(128))  # a name we made
    media_format: Mapped[str | None] = mapped_column(String(8))  # wav, mp3
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    fetch_error: Mapped[str | None] = mapped_column(String(200))
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    call: Mapped[Call | None] = relationship()
