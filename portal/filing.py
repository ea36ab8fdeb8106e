"""A request filed by a citizen on the web (the form or its JSON twin)."""

from dataclasses import dataclass

from app.lines import current_lines
from app.models import Ticket
from app.services.callers import caller_for
from app.services.people import fill_blanks
from app.services.tickets import open_ticket

CHANNEL = "web"


@dataclass(frozen=True)
class WebRequest:
    """What the citizen sent, already checked: phone in E.164, e-mail cleaned;
    at least one of the two."""

    category: str
    description: str
    phone: str | None
    email: str | None
    name: str | None
    language: str


def file_request(request: WebRequest) -> Ticket:
    """Open the ticket and queue its acknowledgment; the caller commits
    (app.services.followups.commit_and_dispatch).

    With a phone the ticket is that caller's, like any other channel's, and the
    name fills the person's profile only where it has none (a stranger cannot
    rename someone). With an e-mail only there is no caller: the address on the
    ticket is where the answer goes and what the status look-up accepts.
    """
    caller = caller_for(request.phone)
    if caller is not None:
        fill_blanks(caller, request.name)
    return open_ticket(
        caller,
        CHANNEL,
        request.category,
        request.description,
        current_lines().lines[0].number,
        request.language,
        "caller",
        contact_email=request.email,
    )
