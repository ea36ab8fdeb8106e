"""The status look-up: a reference, and the phone or e-mail that filed it.

Whoever does not know the contact learns nothing, not even that the reference
exists: an unknown reference, a wrong contact and a malformed reference all run
the same one query and come back None, so neither the answer nor its timing
tells them apart.
"""

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Ticket
from app.phone import to_e164
from app.references import InvalidReference, parse_reference
from app.services.ticket_list import by_phone

# Matches no ticket: stands in for a part of the question that cannot match.
NOTHING = ""
MAX_CONTACT = 254


def _reference(text: str) -> str:
    try:
        return parse_reference(text[:32])
    except InvalidReference:
        return NOTHING


def filed_ticket(reference: str, contact: str, region: str) -> Ticket | None:
    """The ticket if `contact` filed it: its phone in any written form (or any
    number of the same person, CONTRACT §8.5), or its e-mail in any case."""
    contact = contact.strip()[:MAX_CONTACT]
    phone = to_e164(contact, region) or NOTHING
    email = contact.lower() if "@" in contact else NOTHING
    return db.session.scalar(
        select(Ticket).where(
            Ticket.reference == _reference(reference),
            or_(
                by_phone(phone),
                func.lower(Ticket.contact_email) == email,
            ),
        )
    )
