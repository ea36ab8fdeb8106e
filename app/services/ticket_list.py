"""Ticket lists: newest first, a page at a time, each row loaded with what it shows.

Pages follow a keyset, not an OFFSET: the next page starts after the last
ticket shown (its created_at, then its id for tickets created in the same
instant), so the thousandth page costs what the first does and a ticket filed
meanwhile never shifts a row onto the next page twice.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Ticket
from app.models.types import UTCDateTime
from app.services.people import numbers_of_phone

# What ticket_json and the desk read of each row: one query with joins, never one
# query per row (many-to-one links, so the joins do not multiply the rows).
ROW_OPTIONS = (
    joinedload(Ticket.caller),
    joinedload(Ticket.assignee),
    joinedload(Ticket.service),
)


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    next: str | None  # the cursor of the following page; None on the last


def encode_cursor(ticket: Ticket) -> str:
    raw = f"{ticket.created_at.isoformat()}|{ticket.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, ticket_id = raw.split("|")
        at = datetime.fromisoformat(moment)
        number = int(ticket_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("not a cursor this list gave") from None
    if at.tzinfo is None or number < 1:
        raise InvalidCursor("not a cursor this list gave")
    return at, number


def by_phone(phone_e164: str) -> ColumnElement[bool]:
    """A filter on the caller's number, taking in every number of that person
    (CONTRACT §8.5), that reads the caller index of tickets."""
    return Ticket.caller_id.in_(numbers_of_phone(phone_e164))


def newest_first(
    query: Select[tuple[Ticket]], limit: int, cursor: str | None = None, offset: int = 0
) -> Page:
    """One page of `query` (a select of Ticket and its filters); `cursor` is the
    `next` of the previous page. Raises InvalidCursor on a cursor not ours.

    `offset` is kept for the clients of the API's first version: it reads and
    skips every row before the page, so deep pages get slower.
    """
    query = query.options(*ROW_OPTIONS).order_by(
        Ticket.created_at.desc(), Ticket.id.desc()
    )
    if cursor:
        at, ticket_id = decode_cursor(cursor)
        # A row comparison, so PostgreSQL starts the index scan at the cursor.
        query = query.where(
            tuple_(Ticket.created_at, Ticket.id)
            < tuple_(literal(at, UTCDateTime), literal(ticket_id))
        )
    # One row more than asked says whether there is a next page.
    tickets = list(db.session.scalars(query.limit(limit + 1).offset(offset or None)))
    if len(tickets) > limit:
        return Page(tickets[:limit], encode_cursor(tickets[limit - 1]))
    return Page(tickets, None)
