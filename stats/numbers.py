"""How the statistics' pages write a figure, in the page's language: a count,
a rate as a percentage with one decimal, a duration with its unit, a score,
a month."""

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
        return _("%(number)s s", number=format_decimal(round(value)))
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
