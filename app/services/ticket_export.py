"""The tickets as rows for statisticians' tools (CONTRACT §10): CSV and XLSX.

Machine values, not labels: integrators read these files. Rows come from keyset
batches (BATCH ids at a time, by id), so memory stays flat however many tickets
the period holds; the CSV is produced row by row as the response is sent, and
the workbook is written by openpyxl in write-only mode to a temporary file.
"""

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, and_, select, true

from app.extensions import db
from app.models import Service, Ticket, TicketEvent, User
from app.references import format_reference

COLUMNS = (
    "reference",
    "created_at",
    "status",
    "priority",
    "channel",
    "line",
    "category",
    "service",
    "assignee",
    "take_charge_due",
    "take_charge_met",
    "resolve_due",
    "resolve_met",
    "escalation_level",
    "appeal",
    "rating",
)
_FIELDS = (
    Ticket.id,
    Ticket.reference,
    Ticket.created_at,
    Ticket.status,
    Ticket.priority,
    Ticket.channel,
    Ticket.line,
    Ticket.category,
    Ticket.take_charge_due,
    Ticket.take_charge_met,
    Ticket.resolve_due,
    Ticket.resolve_met,
    Ticket.escalation_level,
    Ticket.appeal,
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cell starting so is a formula to a spreadsheet (as in app.tickets.export).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH = 1000
CHUNK = 64 * 1024  # bytes of the workbook per piece of the response
# Where datetime stops: a day this near the ends has no midnight to convert.
_EARLIEST = date.min + timedelta(days=2)
_LATEST = date.max - timedelta(days=2)


def created_between(first: date, last: date, zone: ZoneInfo) -> ColumnElement[bool]:
    """Tickets created from `first`'s midnight to the end of `last`, as the
    centre's clock reads them (both days included)."""
    bounds = []
    if first > _EARLIEST:
        start = datetime.combine(first, time.min, zone).astimezone(UTC)
        bounds.append(Ticket.created_at >= start)
    if last < _LATEST:
        end = datetime.combine(last + timedelta(days=1), time.min, zone)
        bounds.append(Ticket.created_at < end.astimezone(UTC))
    return and_(true(), *bounds)


def ticket_rows(where: ColumnElement[bool], zone: ZoneInfo) -> Iterator[list[str]]:
    """Each ticket matching `where` as a row of COLUMNS' values, by id."""
    after = 0
    while True:
        # Columns, not Ticket objects: the session's identity map stays empty.
        batch = db.session.execute(
            select(*_FIELDS, Service.key.label("service"), User.email.label("assignee"))
            .outerjoin(Service, Service.id == Ticket.service_id)
            .outerjoin(User, User.id == Ticket.assignee_id)
            .where(where, Ticket.id > after)
            .order_by(Ticket.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        ratings = _last_ratings([ticket.id for ticket in batch])
        for ticket in batch:
            yield _row(ticket, ratings.get(ticket.id), zone)
        after = batch[-1].id


def _last_ratings(ticket_ids: list[int]) -> dict[int, Any]:
    """The citizen's last rating score of each ticket that has one."""
    events = db.session.execute(
        select(TicketEvent.ticket_id, TicketEvent.detail)
        .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.action == "rating")
        .order_by(TicketEvent.id)
    )
    return {
        ticket_id: detail["score"]
        for ticket_id, detail in events
        if isinstance(detail, dict) and detail.get("score") is not None
    }


def _row(ticket: Row[Any], rating: Any, zone: ZoneInfo) -> list[str]:
    return [
        format_reference(ticket.reference),
        _instant(ticket.created_at, zone),
        ticket.status,
        ticket.priority,
        ticket.channel,
        ticket.line or "",
        _text(ticket.category),
        _text(ticket.service),
        _text(ticket.assignee),
        _instant(ticket.take_charge_due, zone),
        _boolean(ticket.take_charge_met),
        _instant(ticket.resolve_due, zone),
        _boolean(ticket.resolve_met),
        str(ticket.escalation_level),
        _boolean(ticket.appeal),
        "" if rating is None else str(rating),
    ]


def _instant(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(zone).isoformat()


def _text(value: str | None) -> str:
    # Configured keys and staff e-mails never start so; a cell that did would be
    # a formula to a spreadsheet, so it is shown as text instead.
    if value and value.startswith(FORMULA_START):
        return "'" + value
    return value or ""


def _boolean(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def csv_lines(rows: Iterator[list[str]]) -> Iterator[str]:
    """The header then each row as one CSV line; a BOM first so a spreadsheet
    reads the file as UTF-8 (accents in categories and names)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield "\ufeff" + _drain(buffer)
    for row in rows:
        writer.writerow(row)
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def write_workbook(rows: Iterator[list[str]]) -> str:
    """The header and rows in a write-only workbook saved to a temporary file;
    its path (the caller streams it, then removes it with workbook_chunks)."""
    # Imported here: 5 MB a web process only needs when a workbook is asked for.
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("tickets")
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)
    handle, path = tempfile.mkstemp(prefix="ecoute-export-", suffix=".xlsx")
    os.close(handle)
    try:
        workbook.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path


def workbook_chunks(path: str) -> Iterator[bytes]:
    """The saved workbook piece by piece; the file is removed once sent (or
    when the client goes away and the generator is closed)."""
    try:
        with open(path, "rb") as workbook:
            while chunk := workbook.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)
