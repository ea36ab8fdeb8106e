"""A line's opening hours in words, for people: "Monday - Friday: 08:00-17:30",
with en dashes."""

from datetime import time

from babel.dates import get_day_names
from flask_babel import get_locale
from flask_babel import gettext as _

from app.lines import Hours

DASH = "\u2013"  # the en dash of a range


def _spans(spans: tuple[tuple[time, time], ...]) -> str:
    return ", ".join(f"{start:%H:%M}{DASH}{end:%H:%M}" for start, end in spans)


def hours_in_words(hours: Hours | None) -> list[str]:
    """One line per run of days with the same hours, Monday first."""
    if hours is None:
        return [_("Every day, at any hour.")]
    names = get_day_names("wide", locale=get_locale())
    runs: list[tuple[int, int, tuple[tuple[time, time], ...]]] = []
    for day in range(7):
        spans = hours.weekly.get(day, ())
        if not spans:
            continue
        if runs and runs[-1][1] == day - 1 and runs[-1][2] == spans:
            runs[-1] = (runs[-1][0], day, spans)
        else:
            runs.append((day, day, spans))
    words = []
    for first, last, spans in runs:
        days = names[first] if first == last else f"{names[first]} {DASH} {names[last]}"
        words.append(_("%(days)s: %(hours)s", days=days, hours=_spans(spans)))
    return words
