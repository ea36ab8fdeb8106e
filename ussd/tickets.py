"""What a USSD session does to tickets: file one per session, look one up."""

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.lines import Line
from app.models import ChannelReceipt, Ticket
from app.references import InvalidReference, parse_reference
from app.services.callers import caller_for
from app.services.ticket_list import by_phone
from app.services.tickets import open_ticket

KEY_PREFIX = "ussd:"
MAX_KEY = 255  # channel_receipts.key


def receipt_key(session_id: str) -> str:
    """ "ussd:<sessionId>", the id hashed should it not fit the column."""
    key = KEY_PREFIX + session_id
    if len(key) <= MAX_KEY:
        return key
    return KEY_PREFIX + "sha256:" + hashlib.sha256(session_id.encode()).hexdigest()


def _ticket_of(key: str) -> Ticket | None:
    return db.session.scalar(
        select(Ticket)
        .join(ChannelReceipt, ChannelReceipt.ticket_id == Ticket.id)
        .where(ChannelReceipt.key == key)
    )


def file_once(
    session_id: str, phone: str | None, category: str, line: Line, language: str
) -> Ticket | None:
    """The session's ticket, filed now if it has none.

    The receipt's unique key is inserted first, in the ticket's transaction:
    the same step posted again, even at the same instant by another process,
    hits the key (PostgreSQL makes the second insert wait for the first's
    commit) and answers the ticket the first one filed. None if that ticket
    has since been erased (CONTRACT §11).
    """
    key = receipt_key(session_id)
    receipt = ChannelReceipt(key=key)
    try:
        with db.session.begin_nested():
            db.session.add(receipt)
    except IntegrityError:
        return _ticket_of(key)
    ticket = open_ticket(
        caller_for(phone), "ussd", category, None, line.number, language, "caller"
    )
    receipt.ticket_id = ticket.id
    return ticket


def ticket_of_phone(typed: str, phone: str | None) -> Ticket | None:
    """The ticket with the reference typed, if this phone's person filed it.

    A malformed reference, an unknown one and another person's all give None:
    the session cannot tell them apart, so no one probes references by USSD.
    """
    if phone is None:
        return None
    try:
        reference = parse_reference(typed)
    except InvalidReference:
        return None
    return db.session.scalar(
        select(Ticket).where(Ticket.reference == reference, by_phone(phone))
    )
