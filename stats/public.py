"""The centre's public figures by month (CONTRACT §10): GET /public/stats.

No login, French unless the address asks for English (?lang=en), HTML or
JSON (Accept: application/json, or ?format=json) with the same figures and
the same rules (stats/disclosure.py). The JSON marks a withheld count as
`"count": null, "suppressed": true` with its reason, and a rate, mean or
median resting on fewer than five requests or ratings as null.

Light and without script, for a citizen on a slow phone. The answer depends
on the address and the Accept header only (no cookie, no user), so shared
caches may keep it for an hour; each month's figures are computed at most
once an hour per process, complete months once a day.
"""

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState
from flask_babel import force_locale
from flask_babel import gettext as _

from app.i18n import address_language
from app.labels import centre_zone, label
from app.models.types import utcnow
from app.services import stats
from stats import monthly, public_figures
from stats.cache import TTLCache
from stats.disclosure import MINIMUM, Cell
from stats.numbers import month_name, shown
from stats.public_figures import PublicMonth

bp = Blueprint("public_stats", __name__, template_folder="templates")

MONTHS_BACK = 12  # complete months shown before the current one
CACHE = "public_stats_cache"
CURRENT_MONTH_SECONDS = 3600
# A complete month still changes a little (a late answer decides a deadline).
COMPLETE_MONTH_SECONDS = 24 * 3600
MAX_AGE = 3600


@bp.record_once
def _create_cache(state: BlueprintSetupState) -> None:
    state.app.extensions[CACHE] = TTLCache()


def _month_figures(first: date, current: date) -> dict[str, Any]:
    ttl = CURRENT_MONTH_SECONDS if first >= current else COMPLETE_MONTH_SECONDS
    return current_app.extensions[CACHE].get(
        ("month", first), ttl, lambda: public_figures.month_figures(first, utcnow())
    )


def public_months() -> tuple[list[PublicMonth], list[str], list[str]]:
    """The current month and the twelve before it, newest first, with the
    channels and categories every month is broken down by."""
    current = utcnow().astimezone(centre_zone()).date().replace(day=1)
    months = list(monthly.months_back(current, MONTHS_BACK))
    figures = {first: _month_figures(first, current) for first in months}
    channels = public_figures.channel_columns(figures.values())
    categories = public_figures.category_columns(figures.values())
    published = [
        public_figures.publish(
            first, figures[first], first == current, channels, categories
        )
        for first in months
    ]
    return published, channels, categories


def _wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    offered = ["text/html", "application/json"]
    return request.accept_mimetypes.best_match(offered) == "application/json"


def _count_json(cell: Cell) -> dict[str, Any]:
    answer: dict[str, Any] = {"count": cell.count, "suppressed": bool(cell.withheld)}
    if cell.withheld:
        answer["reason"] = cell.withheld
    return answer


def _breakdown_json(
    cells: dict[str, Cell], words: Callable[[str], str]
) -> list[dict[str, Any]]:
    return [
        {"key": key, "label": words(key), **_count_json(cell)}
        for key, cell in cells.items()
    ]


def category_words(key: str) -> str:
    return _("No category") if key == stats.NONE else label(key, "category")


def _month_json(month: PublicMonth) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "month": monthly.month_key(month.first),
        "in_progress": month.in_progress,
        "requests": _count_json(month.requests),
    }
    if month.too_few:
        return answer
    answer["by_channel"] = _breakdown_json(
        month.by_channel, lambda key: label(key, "channel")
    )
    answer["by_category"] = _breakdown_json(month.by_category, category_words)
    answer["resolve_met_rate"] = month.resolve_met_rate
    answer["median_resolution_hours"] = month.median_resolution_hours
    answer["satisfaction"] = {
        "average": month.satisfaction_average,
        "csat": month.csat,
    }
    return answer


def _answer(
    months: list[PublicMonth], channels: list[str], categories: list[str]
) -> Response:
    if _wants_json():
        return jsonify(
            {
                "minimum_group": MINIMUM,
                "time_zone": centre_zone().key,
                "months": [_month_json(month) for month in months],
            }
        )
    return Response(
        render_template(
            "stats/public.html",
            months=months,
            channels=channels,
            categories=categories,
            month_name=month_name,
            shown=shown,
            category_words=category_words,
            minimum=MINIMUM,
        )
    )


@bp.get("/public/stats")
def figures() -> Response:
    # The answer must be the same for everyone who asks it by this address.
    with force_locale(address_language()):
        response = _answer(*public_months())
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response.vary.add("Accept")
    return response
