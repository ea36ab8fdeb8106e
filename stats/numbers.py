"""How the statistics' pages (dashboard, report, public figures) write a
figure, in the page's language: a count, a rate as a percentage with one
decimal, a duration with its unit, a score, a month."""

from datetime import date

from babel.numbers import format_percent
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import gettext as _

from stats.monthly import HOURS, RATE, SCORE, SECONDS


def number(value: float, kind: str) -> str:
    if kind == RATE:
        # The locale's own percent pattern ("85,3 %", "85.3%"), one decimal.
        return format_percent(
            round(value, 3), locale=get_locale(), decimal_quantization=False
        )
    if kind == SECONDS:
        if value >= 60:  # 4 min 19 s reads faster than 259 s
            minutes, seconds = divmod(round(value), 60)
            return _(
                "%(minutes)s min %(seconds)s s",
                minutes=format_decimal(minutes),
                seconds=f"{seconds:02d}",
            )
        return _("%(number)s s", number=format_decimal(value, "#,##0.#"))
    if kind == HOURS:
        return _("%(number)s h", number=format_decimal(value))
    if kind == SCORE:
        return _("%(number)s / 5", number=format_decimal(value))
    return format_decimal(value)


def shown(value: float | None, kind: str) -> str:
    return "—" if value is None else number(value, kind)


def month_name(first: date) -> str:
    """ "novembre 2026", "November 2026": the month standing alone."""
    return format_date(first, "LLLL y")
