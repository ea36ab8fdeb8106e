"""A service request posted by an integrator becomes a ticket like any other:
same reference, acknowledgment, deadlines and tracking (CONTRACT §9)."""

from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app

from app.lines import current_lines
from app.models import Ticket, User
from app.phone import to_e164
from app.services.followups import commit_and_dispatch
from app.services.people import (
    MAX_NAME,
    caller_for,
    clean_email,
    clean_name,
    fill_blanks,
)
from app.services.tickets import open_ticket

# The spec's own limit on a description.
DESCRIPTION_MAX = 4000
# The API's tickets list no Open311 channel: a portal's request is a web one.
CHANNEL = "web"


class FilingError(ValueError):
    """A field the spec requires is missing or wrong: a 400 with these words."""


@dataclass
class Filing:
    service_code: str
    description: str
    phone: str | None  # E.164
    email: str | None
    name: str | None
    whereabouts: str | None  # address_string, lat/long: for staff only


def _field(values: Mapping[str, object], name: str) -> str:
    value = values.get(name)
    return value.strip() if isinstance(value, str) else ""


def read_filing(values: Mapping[str, object], codes: set[str]) -> Filing:
    """The request's fields, checked; FilingError names the first bad one."""
    code = _field(values, "service_code")
    if not code:
        raise FilingError("service_code is required")
    if code not in codes:
        raise FilingError(f"service_code must be one of: {', '.join(sorted(codes))}")
    description = _field(values, "description")
    if not description:
        raise FilingError("description is required")
    if len(description) > DESCRIPTION_MAX:
        raise FilingError(f"description is longer than {DESCRIPTION_MAX} characters")
    raw_phone = _field(values, "phone")
    phone = None
    if raw_phone:
        phone = to_e164(raw_phone, current_app.config["DEFAULT_REGION"])
        if phone is None:
            raise FilingError("phone is not a phone number")
    try:
        # The profile's own rules (app.services.people): it may end up there.
        email = clean_email(_field(values, "email").lower())
    except ValueError:
        raise FilingError("email is not an e-mail address") from None
    if phone is None and email is None:
        raise FilingError("phone or email is required")
    name = " ".join(
        part for part in (_field(values, "first_name"), _field(values, "last_name"))
    )
    try:
        name = clean_name(name[:MAX_NAME])
    except ValueError:
        raise FilingError("first_name and last_name must be plain text") from None
    where = [_field(values, "address_string")]
    if _field(values, "lat") and _field(values, "long"):
        where.append(f"{_field(values, 'lat')}, {_field(values, 'long')}")
    return Filing(
        service_code=code,
        description=description,
        phone=phone,
        email=email,
        name=name,
        whereabouts=" — ".join(part for part in where if part)[:300] or None,
    )


def file_request(filing: Filing, user: User, language: str | None) -> Ticket:
    """Open the ticket, acknowledge it and commit; the reference is its id."""
    line = current_lines().lines[0]
    caller = caller_for(filing.phone)
    profile = None if caller is None else fill_blanks(caller, filing.name, filing.email)
    description = filing.description
    if filing.whereabouts:
        description += f"\n\n{filing.whereabouts}"
    # A name the profile does not hold stays with the request, for staff.
    if filing.name and (profile is None or profile.name != filing.name):
        description += f"\n\n{filing.name}"
    ticket = open_ticket(
        caller,
        CHANNEL,
        filing.service_code,
        description,
        line.number,
        language or line.language,
        user.email,
        contact_email=filing.email,
    )
    commit_and_dispatch()
    return ticket
