"""The work queue's view as CSV: the rows a person sees, in their words.

UTF-8 with a byte-order mark, so a spreadsheet opened by a double click reads
the accents; times in the centre's zone, named in the header. Written a line at
a time from a generator, so a large view is streamed, never built in memory.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from flask_babel import gettext as _

from app.labels import centre_zone, label
from app.lines import current_lines
from app.models import Ticket

BOM = "\ufeff"
# A cell starting so is a formula to a spreadsheet: it is shown as text instead.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def header() -> list[str]:
    zone = centre_zone().key
    return [
        _("Reference"),
        _("Created (%(zone)s)", zone=zone),
        _("Status"),
        _("Priority"),
        _("Kind"),
        _("Channel"),
        _("Line"),
        _("Category"),
        _("Service"),
        _("Person in charge"),
        _("Take charge by (%(zone)s)", zone=zone),
        _("Answer by (%(zone)s)", zone=zone),
        _("Escalation level"),
        _("Appeal"),
    ]


def _when(moment: datetime | None) -> str:
    # Sortable in a spreadsheet, unlike the page's localised form.
    if moment is None:
        return ""
    return moment.astimezone(centre_zone()).strftime("%Y-%m-%d %H:%M")


def row(ticket: Ticket, line_names: dict[str, str]) -> list[str]:
    person = ticket.assignee
    return [
        ticket.display_reference,
        _when(ticket.created_at),
        label(ticket.status, "status"),
        label(ticket.priority, "priority"),
        label(ticket.kind, "kind"),
        label(ticket.channel, "channel"),
        line_names.get(ticket.line or "", ticket.line or ""),
        label(ticket.category, "category") if ticket.category else "",
        ticket.service.name if ticket.service else "",
        (person.name or person.email) if person else "",
        _when(ticket.take_charge_due),
        _when(ticket.resolve_due),
        str(ticket.escalation_level or 0),
        _("yes") if ticket.appeal else _("no"),
    ]


def _safe(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def csv_lines(tickets: Iterable[Ticket]) -> Iterator[str]:
    line_names = {line.number: line.name for line in current_lines().lines}
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flushed(cells: list[str]) -> str:
        writer.writerow([_safe(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield BOM + flushed(header())
    for ticket in tickets:
        yield flushed(row(ticket, line_names))
