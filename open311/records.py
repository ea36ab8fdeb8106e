"""What Open311 says of the centre's categories and of a request.

A request's answer carries its category, status and dates only: the citizen's
words, number, e-mail, name and address never leave the centre this way (the
description may name people, so it is left out too, CONTRACT §9.4).
"""

from datetime import datetime

from flask_babel import format_date, gettext

from app.labels import STATUSES, centre_zone
from app.lines import current_lines
from app.menus import as_title, category_label, menu_for
from app.models import Ticket

# The spec's two statuses: a request is closed once answered (CONTRACT §9.4).
CLOSED_STATUSES = ("resolved", "closed")


def categories(lang: str) -> dict[str, tuple[str, str]]:
    """Each category the lines offer: key → (label in `lang`, the first line
    that offers it), in the order the lines and their menus list them."""
    found: dict[str, tuple[str, str]] = {}
    for line in current_lines().lines:
        for key, labels in menu_for(line).categories_for(line):
            label = as_title(category_label(labels, lang))
            found.setdefault(key, (label, line.name))
    return found


def service_rows(lang: str) -> list[dict[str, object]]:
    return [
        {
            "service_code": key,
            "service_name": label,
            "description": label,
            "metadata": False,  # no extra attributes to fill in
            "type": "realtime",  # the request is a ticket at once
            "keywords": key,
            "group": line_name,
        }
        for key, (label, line_name) in categories(lang).items()
    ]


def instant(moment: datetime | None) -> str | None:
    """ISO 8601 with the centre's offset, as the spec asks (a timezone always)."""
    if moment is None:
        return None
    return moment.astimezone(centre_zone()).isoformat(timespec="seconds")


def open_or_closed(ticket: Ticket) -> str:
    return "closed" if ticket.status in CLOSED_STATUSES else "open"


def _agency(ticket: Ticket) -> str:
    if ticket.service is not None:
        return ticket.service.name
    return current_lines().for_number(ticket.line).name  # the centre's intake


def request_row(ticket: Ticket, lang: str) -> dict[str, object]:
    """The spec's fields of one request; the ones that would say where or who
    the citizen is stay empty (null in JSON, an empty element in XML)."""
    names = categories(lang)
    name = names[ticket.category][0] if ticket.category in names else None
    return {
        "service_request_id": ticket.display_reference,
        "status": open_or_closed(ticket),
        "status_notes": str(STATUSES.get(ticket.status, ticket.status)),
        "service_name": name,
        "service_code": ticket.category,
        "description": None,  # the citizen's own words: personal data
        "agency_responsible": _agency(ticket),
        "service_notice": None,
        "requested_datetime": instant(ticket.created_at),
        "updated_datetime": instant(ticket.updated_at),
        "expected_datetime": instant(ticket.resolve_due),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def service_notice(ticket: Ticket) -> str:
    """What the integrator shows the citizen once the request is filed."""
    notice = gettext(
        "Your request is registered under the reference %(reference)s.",
        reference=ticket.display_reference,
    )
    if ticket.resolve_due is not None:
        notice += " " + gettext(
            "Expected answer by %(date)s.",
            date=format_date(ticket.resolve_due.astimezone(centre_zone()), "long"),
        )
    return notice
