"""The ticket page's header: where each deadline stands, and who the caller is."""

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.models import Ticket, TicketStatus
from app.models.types import utcnow
from app.services.people import Person, person_of

DEADLINES = (
    ("take_charge", _l("Take in charge by")),
    ("resolve", _l("Answer by")),
)
# A deadline with less than this share of its time left shows as close.
SOON = 0.25


@dataclass(frozen=True)
class Due:
    name: str
    at: datetime | None
    state: str  # met, missed, late, soon, left, paused, none: the badge's class
    words: str


def _due(ticket: Ticket, name: str, words: str, now: datetime) -> Due:
    at: datetime | None = getattr(ticket, f"{name}_due")
    met: bool | None = getattr(ticket, f"{name}_met")
    if met is True:
        return Due(words, at, "met", _("Met"))
    if met is False:
        return Due(words, at, "late", _("Missed"))
    if at is None:
        return Due(words, None, "none", _("No deadline"))
    if ticket.status == TicketStatus.WAITING:
        # The pause moves the due when it ends: no countdown meanwhile.
        return Due(words, at, "paused", _("Paused: waiting for the citizen"))
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return Due(words, at, "none", "—")
    if now > at:
        late = format_timedelta(now - at, granularity="minute")
        return Due(words, at, "late", _("Late by %(time)s", time=late))
    left = at - now
    whole = at - ticket.created_at
    state = "soon" if whole.total_seconds() > 0 and left < whole * SOON else "left"
    time = format_timedelta(left, granularity="minute")
    return Due(words, at, state, _("%(time)s left", time=time))


def deadlines(ticket: Ticket) -> list[Due]:
    now = utcnow()
    return [_due(ticket, name, str(words), now) for name, words in DEADLINES]


def caller(ticket: Ticket) -> Person | None:
    """The caller's profile (CONTRACT §8.5); None for a withheld number."""
    return person_of(ticket.phone) if ticket.phone else None


def caller_url(phone: str) -> str:
    """The caller page (`callers.show`), or its path while it is not there."""
    if "callers.show" in current_app.view_functions:
        return url_for("callers.show", phone=phone)
    return f"/callers/{phone}"
