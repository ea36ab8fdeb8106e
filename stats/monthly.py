"""Months of the centre and one month's figures beside the previous month's:
what the management-review report (stats/report.py) shows, as plain values."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.services.stats import EARLIEST, LATEST

MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse_month(text: str) -> date | None:
    """The first day of a "YYYY-MM" month, or None when it is not one (or one
    before 1970 or after 9999, which the statistics cannot count)."""
    found = MONTH.fullmatch(text.strip())
    if not found:
        return None
    year, month = int(found[1]), int(found[2])
    if not 1 <= month <= 12:
        return None
    first = date(year, month, 1)
    if first < EARLIEST.replace(day=1) or first > LATEST.replace(day=1):
        return None
    return first


def month_key(first: date) -> str:
    return first.strftime("%Y-%m")


def last_day(first: date) -> date:
    return next_month(first) - timedelta(days=1)


def next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def last_complete_month(today: date) -> date:
    return previous_month(today.replace(day=1))


def months_back(current: date, count: int) -> Iterator[date]:
    """`current`'s month and the `count` months before it, newest first."""
    month = current.replace(day=1)
    for _ in range(count + 1):
        yield month
        month = previous_month(month)


# How a figure is read: counts and durations change by their unit, rates by
# percentage points.
COUNT, RATE, SECONDS, HOURS, SCORE = "count", "rate", "seconds", "hours", "score"


@dataclass(frozen=True)
class Compared:
    """One figure this month and the month before."""

    key: str
    kind: str
    now: float | None
    before: float | None

    @property
    def change(self) -> float | None:
        """now - before, in points for a rate; None when either is unknown."""
        if self.now is None or self.before is None:
            return None
        if self.kind == RATE:
            return round((self.now - self.before) * 100, 1)
        return round(self.now - self.before, 2)

    @property
    def direction(self) -> str:
        change = self.change
        if change is None:
            return "unknown"
        return "up" if change > 0 else "down" if change < 0 else "same"


# (group, key in stats.figures, kind), in the report's order.
FIGURES = (
    ("calls", "offered", COUNT),
    ("calls", "answered", COUNT),
    ("calls", "abandonment_rate", RATE),
    ("calls", "service_level", RATE),
    ("calls", "asa_seconds", SECONDS),
    ("calls", "aht_seconds", SECONDS),
    ("tickets", "created", COUNT),
    ("tickets", "resolved", COUNT),
    ("tickets", "median_resolution_hours", HOURS),
    ("tickets", "take_charge_met_rate", RATE),
    ("tickets", "resolve_met_rate", RATE),
    ("tickets", "escalated", COUNT),
    ("tickets", "appeals", COUNT),
    ("tickets", "backlog", COUNT),
    ("satisfaction", "answered", COUNT),
    ("satisfaction", "average", SCORE),
    ("satisfaction", "csat", RATE),
    ("messages", "sent", COUNT),
)


def _value(figures: dict[str, Any], group: str, key: str) -> float | None:
    if group == "messages":  # every channel's texts together
        return sum(counts["sent"] for counts in figures["messages"].values())
    value = figures[group][key]
    if key == "backlog":  # the open requests of every age
        return sum(value.values())
    return value


def compare(now: dict[str, Any], before: dict[str, Any]) -> list[Compared]:
    """The report's figures (stats.figures() of two months), side by side."""
    return [
        Compared(
            f"{group}.{key}", kind, _value(now, group, key), _value(before, group, key)
        )
        for group, key, kind in FIGURES
    ]


@dataclass(frozen=True)
class Growth:
    category: str
    now: int
    before: int

    @property
    def change(self) -> int:
        return self.now - self.before


def grew_most(
    now: dict[str, int], before: dict[str, int], top: int = 5
) -> list[Growth]:
    """The categories whose requests grew most from one month to the next
    (by_category counts), largest increase first; those that did not grow are
    left out. Ties go to the busier month, then the key, so the order is stable."""
    growths = [
        Growth(key, now.get(key, 0), before.get(key, 0))
        for key in set(now) | set(before)
    ]
    grown = [growth for growth in growths if growth.change > 0]
    grown.sort(key=lambda growth: (-growth.change, -growth.now, growth.category))
    return grown[:top]
