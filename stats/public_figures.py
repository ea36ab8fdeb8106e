"""The centre's public figures of a month (CONTRACT §10): computed from
app.services.stats, then cut to what stats.disclosure lets out.

`month_figures` is what the database says and what the cache keeps (numbers
and stored keys only, the same in every language); `publish` is what a
visitor may read of it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.menus import category_choices
from app.models.tickets import CHANNELS
from app.services import stats
from stats import disclosure, monthly
from stats.disclosure import Cell


def month_figures(first: date, now: datetime) -> dict[str, Any]:
    """The counts behind a month's public figures."""
    scope = stats.scope_for(first, monthly.last_day(first))
    tickets = stats.ticket_figures(scope, now)
    resolve = stats.deadline_outcomes(scope, now)["resolve"]
    satisfaction = stats.satisfaction_figures(scope)
    return {
        "requests": tickets["created"],
        "by_channel": tickets["by_channel"],
        "by_category": tickets["by_category"],
        "resolve_met_rate": tickets["resolve_met_rate"],
        "resolve_decided": resolve["met"] + resolve["missed"],
        "median_resolution_hours": tickets["median_resolution_hours"],
        "resolved": tickets["resolved"],
        "satisfaction_average": satisfaction["average"],
        "csat": satisfaction["csat"],
        "ratings": satisfaction["answered"],
    }


@dataclass(frozen=True)
class PublicMonth:
    """What may be published of a month; `too_few` when it had fewer than
    five requests, and then nothing else is."""

    first: date
    in_progress: bool
    requests: Cell
    by_channel: dict[str, Cell]
    by_category: dict[str, Cell]
    resolve_met_rate: float | None = None
    median_resolution_hours: float | None = None
    satisfaction_average: float | None = None
    csat: float | None = None

    @property
    def too_few(self) -> bool:
        return self.requests.withheld is not None


def channel_columns(months: Iterable[dict[str, Any]]) -> list[str]:
    """Every channel, in the model's order, and any other one stored."""
    found = {key for figures in months for key in figures["by_channel"]}
    return list(CHANNELS) + sorted(found - set(CHANNELS))


def category_columns(months: Iterable[dict[str, Any]]) -> list[str]:
    """Every category the lines offer, any other one stored, and "none" last:
    a category with no request is shown too, so an absent column tells nothing."""
    offered = [key for key, _ in category_choices("fr")]
    found = {key for figures in months for key in figures["by_category"]}
    others = sorted(found - set(offered) - {stats.NONE})
    return [*offered, *others, stats.NONE]


def publish(
    first: date,
    figures: dict[str, Any],
    in_progress: bool,
    channels: list[str],
    categories: list[str],
) -> PublicMonth:
    requests = disclosure.shown_count(figures["requests"])
    if requests.withheld:
        return PublicMonth(first, in_progress, requests, {}, {})
    minimum = disclosure.shown_measure
    return PublicMonth(
        first,
        in_progress,
        requests,
        disclosure.breakdown(
            {key: figures["by_channel"].get(key, 0) for key in channels}
        ),
        disclosure.breakdown(
            {key: figures["by_category"].get(key, 0) for key in categories}
        ),
        resolve_met_rate=minimum(
            figures["resolve_met_rate"], figures["resolve_decided"]
        ),
        median_resolution_hours=minimum(
            figures["median_resolution_hours"], figures["resolved"]
        ),
        satisfaction_average=minimum(
            figures["satisfaction_average"], figures["ratings"]
        ),
        csat=minimum(figures["csat"], figures["ratings"]),
    )
