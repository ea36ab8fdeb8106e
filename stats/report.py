"""The monthly management-review report (issue #13): one printable page per
month, its figures beside the previous month's, and the categories that grew.

Supervisors and administrators only. The browser prints it to one A4 page
(the print rules are in ecoute.css), which is how it becomes a PDF.
"""

from datetime import date

from flask import abort, render_template, request
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.labels import centre_zone
from app.models.types import utcnow
from app.services import stats
from stats import monthly
from stats.monthly import RATE, SCORE, Compared
from stats.numbers import month_name, number, shown
from stats.views import bp

MINUS = "\N{MINUS SIGN}"  # typographic, and read as "minus"
GROUPS = {
    "calls": _l("Calls"),
    "tickets": _l("Requests"),
    "satisfaction": _l("Satisfaction"),
    "messages": _l("Messages to citizens"),
}
NAMES = {
    "calls.offered": _l("Calls offered"),
    "calls.answered": _l("Calls answered"),
    "calls.abandonment_rate": _l("Abandonment rate"),
    "calls.service_level": _l("Service level"),
    "calls.asa_seconds": _l("Average speed of answer"),
    "calls.aht_seconds": _l("Average handling time"),
    "tickets.created": _l("Requests created"),
    "tickets.resolved": _l("Requests resolved"),
    "tickets.median_resolution_hours": _l("Median time to resolve"),
    "tickets.take_charge_met_rate": _l("Taken in charge in time"),
    "tickets.resolve_met_rate": _l("Resolved in time"),
    "tickets.escalated": _l("Escalated"),
    "tickets.appeals": _l("Appeals"),
    "tickets.backlog": _l("Still open today"),
    "satisfaction.answered": _l("Ratings received"),
    "satisfaction.average": _l("Average rating"),
    "satisfaction.csat": _l("Satisfied citizens (CSAT)"),
    "messages.sent": _l("Texts and e-mails sent"),
}


def change_shown(figure: Compared) -> str:
    """The difference as read beside the arrow: "+3", "-2.5 pts" (a true minus
    sign), "+4 s"."""
    change = figure.change
    if change is None:
        return ""
    sign = "+" if change > 0 else MINUS if change < 0 else ""
    size = abs(change)
    if figure.kind == RATE:
        return _("%(sign)s%(number)s pts", sign=sign, number=format_decimal(size))
    if figure.kind == SCORE:  # a score's change has no "/ 5"
        return sign + format_decimal(size)
    return sign + number(size, figure.kind)


def change_words(figure: Compared) -> str:
    """The trend in words, for a screen reader (the arrow is hidden from it)."""
    amount = change_shown(figure).lstrip("+" + MINUS)
    return {
        "up": _("up by %(amount)s", amount=amount),
        "down": _("down by %(amount)s", amount=amount),
        "same": _("unchanged"),
        "unknown": _("no comparison"),
    }[figure.direction]


# What the template calls to write the figures.
HELPERS = {
    "groups": GROUPS,
    "names": NAMES,
    "shown": shown,
    "change_shown": change_shown,
    "change_words": change_words,
    "month_name": month_name,
    "month_key": monthly.month_key,
}


def _requested_month(today: date) -> tuple[date | None, str]:
    """The month asked for (the last complete one by default) and the text
    typed, kept for the form."""
    typed = request.args.get("month", "").strip()
    if not typed:
        return monthly.last_complete_month(today), ""
    return monthly.parse_month(typed), typed


@bp.get("/report")
@login_required
def report() -> tuple[str, int]:
    if not current_user.is_supervisor:
        abort(403)
    now = utcnow()
    today = now.astimezone(centre_zone()).date()
    first, typed = _requested_month(today)
    if first is None:
        page = render_template(
            "stats/report.html", month=None, typed=typed, today=today, **HELPERS
        )
        return page, 400
    before = monthly.previous_month(first)
    figures = stats.figures(stats.scope_for(first, monthly.last_day(first)), now)
    earlier = stats.figures(stats.scope_for(before, monthly.last_day(before)), now)
    page = render_template(
        "stats/report.html",
        month=first,
        typed=monthly.month_key(first),
        before=before,
        after=monthly.next_month(first),
        current=today.replace(day=1),
        compared=monthly.compare(figures, earlier),
        grown=monthly.grew_most(
            figures["tickets"]["by_category"], earlier["tickets"]["by_category"]
        ),
        computed_at=now,
        **HELPERS,
    )
    return page, 200
