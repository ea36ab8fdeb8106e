"""Business time: deadlines counted in a centre's opening hours, not on the wall clock.

Pure: no database, no Flask. A Calendar knows its time zone, its weekly opening
hours and its holidays. `add` moves an instant a business duration forward;
`between` measures the business time from one instant to another. Both work on
aware instants and answer in UTC; local days are laid out in the calendar's zone,
so a day that loses or gains an hour to daylight saving is as long as it really is.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_A_DAY = 24 * 60
# However many holidays follow each other, a deadline is never further than this.
SEARCH_DAYS = 3 * 366

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")

Span = tuple[int, int]  # minutes after local midnight, [start, end)


@dataclass(frozen=True)
class Calendar:
    timezone: ZoneInfo
    week: tuple[tuple[Span, ...], ...]  # seven entries, Monday first
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.week) != 7 or not any(self.week):
            raise ValueError("a calendar needs seven days and some opening hours")

    @property
    def day_length(self) -> timedelta:
        """A business day (`1d`): the opening hours of the longest day of the week."""
        return timedelta(minutes=max(sum(e - s for s, e in day) for day in self.week))

    def is_open(self, at: datetime) -> bool:
        local_day = at.astimezone(self.timezone).date()
        return any(start <= at < end for start, end in self._periods(local_day, 1))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant `duration` of business time after `start`."""
        start = start.astimezone(UTC)
        if duration <= timedelta():
            return start
        left = duration
        for opens, closes in self._periods(start.astimezone(self.timezone).date()):
            if closes <= start:
                continue
            begin = max(opens, start)
            if left <= closes - begin:
                return begin + left
            left -= closes - begin
        raise ValueError(f"no opening hours within {SEARCH_DAYS} days of {start}")

    def between(self, first: datetime, last: datetime) -> timedelta:
        """Business time from `first` to `last`; nothing when `last` is not later."""
        first, last = first.astimezone(UTC), last.astimezone(UTC)
        total = timedelta()
        if last <= first:
            return total
        days = (last - first).days + 2
        for opens, closes in self._periods(
            first.astimezone(self.timezone).date(), days
        ):
            if opens >= last:
                break
            total += max(timedelta(), min(closes, last) - max(opens, first))
        return total

    def _periods(
        self, first_day: date, days: int = SEARCH_DAYS
    ) -> Iterator[tuple[datetime, datetime]]:
        """Open periods as UTC instants, from the local day before `first_day`
        (an instant's UTC date may be its local yesterday) onwards."""
        day = first_day - timedelta(days=1)
        for _ in range(days + 1):
            if day not in self.holidays:
                for start, end in self.week[day.weekday()]:
                    yield self._instant(day, start), self._instant(day, end)
            day += timedelta(days=1)

    def _instant(self, day: date, minute: int) -> datetime:
        # Midnight ending a day is the next day's: 24:00 stays exact across DST.
        if minute == MINUTES_A_DAY:
            day, minute = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minute // 60, minute % 60))
        return local.replace(tzinfo=self.timezone).astimezone(UTC)


def day_keys(spec: str) -> list[int]:
    """'mon-fri', 'sat', 'mon,wed' as weekday numbers (0 is Monday)."""
    days: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            if first not in DAYS or last not in DAYS:
                raise ValueError(part)
            start, end = DAYS.index(first), DAYS.index(last)
            days.extend(range(start, end + 1) if start <= end else [])
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise ValueError(part)
    return days


def minute_spans(value: object) -> tuple[Span, ...]:
    """'08:00-12:00, 14:00-17:30' (or a list) as minute spans; 24:00 ends a day."""
    parts = value if isinstance(value, list) else str(value).split(",")
    spans = []
    for part in parts:
        match = _SPAN.match(str(part))
        if not match:
            raise ValueError(part)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or not 0 <= start < end <= MINUTES_A_DAY:
            raise ValueError(part)
        spans.append((start, end))
    return tuple(spans)


def weekly(opening: Iterable[tuple[str, object]]) -> tuple[tuple[Span, ...], ...]:
    """{'mon-fri': '08:00-17:30', 'sat': '08:00-12:00'} as a calendar's week."""
    week: list[list[Span]] = [[] for _ in DAYS]
    for spec, value in opening:
        for day in day_keys(spec):
            week[day].extend(minute_spans(value))
    for day, spans in enumerate(week):
        spans.sort()
        if any(a[1] > b[0] for a, b in pairwise(spans)):
            raise ValueError(f"{DAYS[day]}: opening hours overlap")
    return tuple(tuple(spans) for spans in week)


def parse_duration(text: str, calendar: Calendar) -> timedelta:
    """'30m', '8h' or '3d' (business days of `calendar`) as business time."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a duration like 30m, 8h or 3d")
    amount, unit = int(match.group(1)), match.group(2)
    if unit == "d":
        return amount * calendar.day_length
    return timedelta(minutes=amount * (60 if unit == "h" else 1))
