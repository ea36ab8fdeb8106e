"""The dashboard's GET filters: a period of the centre's days, a line, a service.

Read by hand rather than by a form class: a GET filter needs no CSRF token, and
each refusal must say in the page's language which filter is wrong and why.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_DAYS = 366  # a leap year: a period longer than that is two reports


@dataclass(frozen=True)
class Choices:
    """What the filters may name: lines by number, services by key."""

    lines: dict[str, str]  # number -> name
    services: dict[str, tuple[int, str]]  # key -> (id, name)


@dataclass
class Filters:
    first: date
    last: date
    line: str | None = None
    service: str | None = None
    # What was typed, shown again in the form when it is refused.
    typed: dict[str, str] = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _day(typed: str, default: date) -> date | None:
    if not typed:
        return default
    if not DATE.match(typed):
        return None
    try:
        return date.fromisoformat(typed)
    except ValueError:  # 2026-02-30
        return None


def read_filters(
    args: Mapping[str, str], choices: Choices, today: date
) -> tuple[Filters, list[str]]:
    """The filters asked for (defaults: this month up to today, every line and
    service) and, when refused, why: each reason a sentence for the page."""
    typed = {name: (args.get(name) or "").strip() for name in ("from", "to")}
    typed |= {name: args.get(name) or "" for name in ("line", "service")}
    problems = []
    first = _day(typed["from"], today.replace(day=1))
    last = _day(typed["to"], today)
    if first is None:
        problems.append(str(_l("The start date is not a date (YYYY-MM-DD).")))
    if last is None:
        problems.append(str(_l("The end date is not a date (YYYY-MM-DD).")))
    if first and last:
        if last < first:
            problems.append(str(_l("The end date is before the start date.")))
        elif (last - first).days + 1 > MAX_DAYS:
            problems.append(
                str(
                    _l(
                        "A period is at most %(days)d days: choose a shorter one.",
                        days=MAX_DAYS,
                    )
                )
            )
    line = typed["line"] or None
    if line is not None and line not in choices.lines:
        problems.append(str(_l("This line is not one of the centre's lines.")))
    service = typed["service"] or None
    if service is not None and service not in choices.services:
        problems.append(str(_l("This service does not exist.")))
    chosen = Filters(first or today.replace(day=1), last or today, line, service, typed)
    return chosen, problems
