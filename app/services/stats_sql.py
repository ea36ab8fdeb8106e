"""The two pieces of SQL SQLite and PostgreSQL say differently, for the
statistics: an instant as seconds since 1970, and the centre's day of an
instant."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, case
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

DAY = 86400


class epoch(FunctionElement[int]):
    """Whole seconds since 1970-01-01 UTC of a UTC instant column."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # The stored text is UTC (app.models.types.UTCDateTime).
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: Any, **kw: Any) -> str:
    return (
        f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS BIGINT)"
    )


def seconds_between(since: Any, until: Any) -> ColumnElement[int]:
    return epoch(until) - epoch(since)


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    return int(moment.astimezone(zone).utcoffset().total_seconds())


def offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[int, int]]:
    """(from which epoch second, the UTC offset in seconds) of the zone over
    [start, end): the offset at start, then each change, found day by day and
    then to the second (a zone changes its offset a few times a year at most)."""
    changes = [(int(start.timestamp()), _offset(zone, start))]
    moment = start
    while moment < end:
        following = min(moment + timedelta(days=1), end)
        if _offset(zone, following) != changes[-1][1]:
            low, high = int(moment.timestamp()), int(following.timestamp())
            while high - low > 1:  # the first second of the new offset
                middle = (low + high) // 2
                at = datetime.fromtimestamp(middle, UTC)
                if _offset(zone, at) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            changes.append((high, _offset(zone, following)))
        moment = following
    return changes


def local_day(
    column: Any, zone: ZoneInfo, start: datetime, end: datetime
) -> ColumnElement[int]:
    """The centre's day of `column` in [start, end), as days since 1970-01-01."""
    seconds = epoch(column)
    steps = offsets(zone, start, end)
    if len(steps) == 1:
        shifted = seconds + steps[0][1]
    else:
        offset = case(
            *((seconds >= since, off) for since, off in reversed(steps[1:])),
            else_=steps[0][1],
        )
        shifted = seconds + offset
    # Floor division: both dialects divide integers towards zero, and these
    # instants are after 1970. `//`, not `/`: SQLAlchemy makes `/` a true
    # division (NUMERIC on PostgreSQL), whose cast back to BIGINT rounds, so
    # every instant after the centre's noon fell on the next day.
    return shifted // DAY
