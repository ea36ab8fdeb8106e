"""The dashboard's numbers as tables: the headline tiles and one table per chart.

Each table is what its chart draws (stats-dashboard.js reads it), so a person
who cannot see the chart, or prints the page, has every number. Day series are
filled: a day without calls is a row of zeros, not a missing day.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from app.labels import label
from app.services import stats
from app.services.stats import NONE, Scope
from stats import numbers
from stats.monthly import RATE, SCORE

Value = int | float | None


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    unit: str = "count"  # count, percent (0..1), seconds, hours, rating
    axis: str = "y"  # the chart's scale: y (left) or y1 (right)
    draw: str | None = None  # this series as a line in a bar chart


@dataclass(frozen=True)
class Row:
    title: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Chart:
    key: str
    title: Any  # a lazy string
    kind: str  # Chart.js's type: bar or line
    head: Any  # the first column's header
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    stacked: bool = False
    horizontal: bool = False


@dataclass(frozen=True)
class Tile:
    key: str
    title: Any
    value: Value
    unit: str


@dataclass(frozen=True)
class Board:
    tiles: tuple[Tile, ...]
    charts: tuple[Chart, ...]


# The dashboard's units (its script reads them) as the statistics' kinds.
KINDS = {"percent": RATE, "rating": SCORE}


def shown(value: Value, unit: str) -> str:
    """A figure as a person reads it, as the report and public page write it."""
    return numbers.shown(value, KINDS.get(unit, unit))


def days_of(scope: Scope) -> Iterator[date]:
    day = scope.first
    while day <= scope.last:
        yield day
        day += timedelta(days=1)


def _day_title(day: date, scope: Scope) -> str:
    same_year = scope.first.year == scope.last.year
    # Unbroken: a day's row title never wraps into "1" over "nov.".
    return format_date(day, "d MMM" if same_year else "d MMM y").replace(" ", "\u00a0")


BACKLOG = {
    "0-2d": _l("0 to 2 days"),
    "3-7d": _l("3 to 7 days"),
    "8-30d": _l("8 to 30 days"),
    "31d+": _l("31 days or more"),
}
DAY = _l("Day")
TICKETS = _l("Requests")


def _calls_per_day(scope: Scope, by_day: dict[date, dict[str, Any]]) -> Chart:
    keys = ("offered", "answered", "abandoned")
    rows = tuple(
        Row(
            _day_title(day, scope),
            tuple(by_day.get(day, {}).get(key, 0) for key in keys),
        )
        for day in days_of(scope)
    )
    return Chart(
        "calls",
        _l("Calls per day"),
        "bar",
        DAY,
        (
            Column("offered", _l("Offered")),
            Column("answered", _l("Answered")),
            Column("abandoned", _l("Abandoned")),
        ),
        rows,
    )


def _service_per_day(scope: Scope, by_day: dict[date, dict[str, Any]]) -> Chart:
    rows = tuple(
        Row(
            _day_title(day, scope),
            (
                by_day.get(day, {}).get("service_level"),
                by_day.get(day, {}).get("asa_seconds"),
            ),
        )
        for day in days_of(scope)
    )
    return Chart(
        "service-level",
        _l("Service level and average speed of answer per day"),
        "line",
        DAY,
        (
            Column("service_level", _l("Service level"), "percent"),
            Column("asa_seconds", _l("Average speed of answer"), "seconds", "y1"),
        ),
        rows,
    )


def _counts(key: str, title: Any, head: Any, counts: list[tuple[str, int]]) -> Chart:
    rows = tuple(Row(words, (count,)) for words, count in counts)
    return Chart(
        key, title, "bar", head, (Column("tickets", TICKETS),), rows, horizontal=True
    )


def _by_channel(figures: dict[str, Any]) -> Chart:
    counts = [
        (label(channel, "channel"), count)
        for channel, count in figures["by_channel"].items()
    ]
    return _counts("channels", _l("Requests by channel"), _l("Channel"), counts)


def _by_category(figures: dict[str, Any]) -> Chart:
    counts = sorted(
        (
            (
                str(_l("No category")) if key == NONE else label(key, "category"),
                count,
            )
            for key, count in figures["by_category"].items()
        ),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return _counts("categories", _l("Requests by category"), _l("Category"), counts)


def _by_service(figures: dict[str, Any], names: dict[str, str]) -> Chart:
    counts = sorted(
        (
            (str(_l("No service")) if key == NONE else names.get(key, key), count)
            for key, count in figures["by_service"].items()
        ),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return _counts("services", _l("Requests by service"), _l("Service"), counts)


def _deadlines(scope: Scope, now: datetime) -> Chart:
    outcomes = stats.deadline_outcomes(scope, now)
    names = {"take_charge": _l("Taking charge"), "resolve": _l("Resolving")}
    rows = tuple(
        Row(str(names[key]), (counts["met"], counts["missed"]))
        for key, counts in outcomes.items()
    )
    return Chart(
        "deadlines",
        _l("Deadlines met and missed"),
        "bar",
        _l("Deadline"),
        (Column("met", _l("Met")), Column("missed", _l("Missed"))),
        rows,
        stacked=True,
        horizontal=True,
    )


def _backlog(figures: dict[str, Any]) -> Chart:
    rows = tuple(
        Row(str(BACKLOG[key]), (count,)) for key, count in figures["backlog"].items()
    )
    return Chart(
        "backlog",
        _l("Open requests by age"),
        "bar",
        _l("Age"),
        (Column("open", _l("Open requests")),),
        rows,
    )


def _satisfaction(scope: Scope) -> Chart:
    by_day = stats.satisfaction_by_day(scope)
    rows = tuple(
        Row(
            _day_title(day, scope),
            (
                by_day.get(day, {}).get("answered", 0),
                by_day.get(day, {}).get("average"),
            ),
        )
        for day in days_of(scope)
    )
    return Chart(
        "satisfaction",
        _l("Satisfaction over time"),
        "bar",
        DAY,
        (
            Column("ratings", _l("Ratings")),
            Column("average", _l("Mean rating (1 to 5)"), "rating", "y1", "line"),
        ),
        rows,
    )


def _tiles(figures: dict[str, Any]) -> tuple[Tile, ...]:
    calls, tickets = figures["calls"], figures["tickets"]
    return (
        Tile("offered", _l("Calls offered"), calls["offered"], "count"),
        Tile("answered", _l("Calls answered"), calls["answered"], "count"),
        Tile(
            "abandonment_rate",
            _l("Abandonment rate"),
            calls["abandonment_rate"],
            "percent",
        ),
        Tile("service_level", _l("Service level"), calls["service_level"], "percent"),
        Tile(
            "asa_seconds",
            _l("Average speed of answer"),
            calls["asa_seconds"],
            "seconds",
        ),
        Tile(
            "aht_seconds", _l("Average handling time"), calls["aht_seconds"], "seconds"
        ),
        Tile("created", _l("Requests created"), tickets["created"], "count"),
        Tile("resolved", _l("Requests resolved"), tickets["resolved"], "count"),
        Tile(
            "median_resolution_hours",
            _l("Median time to resolve"),
            tickets["median_resolution_hours"],
            "hours",
        ),
        Tile(
            "take_charge_met_rate",
            _l("Taken in charge in time"),
            tickets["take_charge_met_rate"],
            "percent",
        ),
        Tile(
            "resolve_met_rate",
            _l("Resolved in time"),
            tickets["resolve_met_rate"],
            "percent",
        ),
        Tile(
            "csat",
            _l("Satisfied citizens (4 or 5)"),
            figures["satisfaction"]["csat"],
            "percent",
        ),
    )


def board(scope: Scope, service_names: dict[str, str], now: datetime) -> Board:
    """The page's tiles and charts for this scope (`service_names`: key -> name)."""
    figures = stats.figures(scope, now)
    tickets = figures["tickets"]
    calls_by_day = stats.calls_by_day(scope)
    charts = (
        _calls_per_day(scope, calls_by_day),
        _service_per_day(scope, calls_by_day),
        _by_channel(tickets),
        _by_category(tickets),
        _by_service(tickets, service_names),
        _deadlines(scope, now),
        _backlog(tickets),
        _satisfaction(scope),
    )
    return Board(_tiles(figures), charts)
