"""What the focal point's page shows of its ticket, computed away from the view:
labels, the centre's time zone, the masked number, the history fit for them."""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from app.labels import label, local_time
from app.models import Ticket, TicketEvent

# The history a focal point reads: what happened to the request, not the
# centre's housekeeping (texts, calls, recordings, who listened, assignments to
# staff, whose e-mails stay inside). Internal notes are shown: "internal" means
# "not sent to the citizen", and the focal point is one of those handling it.
ACTIONS = {
    "created": _l("Request registered"),
    "status": _l("Status changed"),
    "service": _l("Department changed"),
    "category": _l("Category changed"),
    "note": _l("Note"),
    "resolution": _l("Answer given"),
    "focal_link": _l("Link sent"),
    "rating": _l("Rating"),
}
# How many digits of the caller's number stay readable.
VISIBLE_DIGITS = 2


@dataclass(frozen=True)
class Entry:
    at: str
    who: str
    what: str
    text: str | None = None
    internal: bool = False


def when(at: datetime | None) -> str | None:
    """In the centre's time zone, as every staff page (app.labels)."""
    return None if at is None else local_time(at, "medium")


def masked(phone: str | None) -> str | None:
    """ "+229 ••••••••00": enough to tell two callers apart, not to call them."""
    if not phone:
        return None
    digits = phone.lstrip("+")
    return "•" * (len(digits) - VISIBLE_DIGITS) + digits[-VISIBLE_DIGITS:]


def who(actor: str) -> str:
    """The author as the focal point may read it: no staff e-mail."""
    if actor.startswith("focal point: "):
        return actor.removeprefix("focal point: ")
    if actor == "caller":
        return str(_l("The citizen"))
    return str(_l("The centre"))


def _what(event: TicketEvent) -> str:
    detail = event.detail or {}
    words = str(ACTIONS[event.action])
    if event.action == "status":
        old = label(detail.get("old"), "status")
        new = label(detail.get("new"), "status")
        return f"{words}: {old} → {new}"
    if event.action == "focal_link":
        return f"{words}: {detail.get('focal_point', '')}"
    return words


def history(ticket: Ticket) -> list[Entry]:
    entries = []
    for event in ticket.events:
        if event.action not in ACTIONS:
            continue
        detail = event.detail or {}
        text = detail.get("text") if event.action in ("note", "resolution") else None
        entries.append(
            Entry(
                at=when(event.at) or "",
                who=who(event.actor),
                what=_what(event),
                text=text,
                internal=event.action == "note"
                and detail.get("visibility") != "public",
            )
        )
    return entries
