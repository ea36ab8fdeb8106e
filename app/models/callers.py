"""People who call or write to the centre, keyed by their E.164 number."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Caller(db.Model):
    __tablename__ = "callers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    # The civil-service number (matricule) of a public servant.
    matricule: Mapped[str | None] = mapped_column(String(32))
    # One person, several SIMs: the other numbers point at the caller holding
    # the profile; None on that caller (and on a number nobody joined).
    person_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(2))
    # STOP/ARRET (or Twilio's 21610) stops every follow-up until START/DEBUT.
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the caller wrote to us on WhatsApp: lines that allow it answer there.
    uses_whatsapp: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
