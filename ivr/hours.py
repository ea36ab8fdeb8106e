"""A line's opening hours in words, as a caller hears them in French or English."""

from datetime import time

from babel.dates import get_day_names

from app.lines import Hours

Span = tuple[time, time]

AND = {"fr": "et", "en": "and"}


def spoken_hours(hours: Hours, lang: str) -> str:
    """'du lundi au vendredi de 8 heures à 17 heures 30', or '' if never open.

    Days with the same spans are said together; three or more days in a row
    are said as a range.
    """
    lang = lang if lang in AND else "en"
    groups: dict[tuple[Span, ...], list[int]] = {}
    for day in range(7):
        spans = tuple(sorted(hours.weekly.get(day, ())))
        if spans:
            groups.setdefault(spans, []).append(day)
    parts = [
        f"{_days(days, lang)} {_spans(spans, lang)}" for spans, days in groups.items()
    ]
    return _join(parts, lang)


def _join(parts: list[str], lang: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {AND[lang]} {parts[-1]}"


def _runs(days: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _days(days: list[int], lang: str) -> str:
    if len(days) == 7:
        return "tous les jours" if lang == "fr" else "every day"
    names = get_day_names("wide", locale=lang)  # 0 is Monday, as in Hours
    parts: list[str] = []
    ranged = False
    for run in _runs(days):
        if len(run) >= 3:
            ranged = True
            first, last = names[run[0]], names[run[-1]]
            parts.append(
                f"du {first} au {last}" if lang == "fr" else f"{first} to {last}"
            )
        else:
            parts.extend(f"le {names[d]}" if lang == "fr" else names[d] for d in run)
    said = _join(parts, lang)
    return said if lang == "fr" or ranged else f"on {said}"


def _spans(spans: tuple[Span, ...], lang: str) -> str:
    if spans == ((time(0, 0), time.max),):
        return "24 heures sur 24" if lang == "fr" else "around the clock"
    if lang == "fr":
        said = [f"de {_fr(start)} à {_fr(end)}" for start, end in spans]
    else:
        said = [f"from {_en(start)} to {_en(end)}" for start, end in spans]
    return _join(said, lang)


def _fr(at: time) -> str:
    if at == time.max or at == time(0, 0):
        return "minuit"
    if at == time(12, 0):
        return "midi"
    hour = f"{at.hour} heure" + ("s" if at.hour > 1 else "")
    return f"{hour} {at.minute:02d}" if at.minute else hour


def _en(at: time) -> str:
    if at == time.max or at == time(0, 0):
        return "midnight"
    if at == time(12, 0):
        return "noon"
    hour = at.hour % 12 or 12
    clock = f"{hour}:{at.minute:02d}" if at.minute else str(hour)
    return f"{clock} {'am' if at.hour < 12 else 'pm'}"
