"""Business time: generated instants and durations over calendars with holidays,
in time zones with and without daylight saving."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.business_time import Calendar, parse_duration, weekly

ZONES = (
    "Africa/Porto-Novo",  # UTC+1, no daylight saving
    "Africa/Abidjan",  # UTC
    "Europe/Paris",  # daylight saving at 02:00 and 03:00
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -3:30 / -2:30, changes at midnight-ish hours
)
WEEKS = (
    {"mon-fri": "08:00-17:30"},
    {"mon-fri": "08:00-12:00, 14:00-17:30", "sat": "08:00-12:00"},
    {"mon-sun": "00:00-24:00"},
    {"sun-thu": "22:00-24:00", "mon-fri": "00:00-06:00"},  # a night shift
)
HOLIDAYS = frozenset(
    {date(2026, 12, 25), date(2027, 1, 1), date(2026, 4, 6), date(2026, 3, 30)}
)


def calendar(zone: str = "Africa/Porto-Novo", week: int = 0) -> Calendar:
    return Calendar(ZoneInfo(zone), weekly(WEEKS[week].items()), HOLIDAYS)


calendars = st.builds(calendar, st.sampled_from(ZONES), st.integers(0, len(WEEKS) - 1))
instants = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(UTC),
)
durations = st.integers(0, 30 * 24 * 60).map(lambda m: timedelta(minutes=m))


def local(zone: str, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone))


@given(calendars, instants, durations)
def test_the_time_added_is_the_time_between(cal, start, duration):
    due = cal.add(start, duration)
    assert due >= start
    assert cal.between(start, due) == duration


@given(calendars, instants, durations, durations)
def test_adding_in_two_steps_is_adding_at_once(cal, start, first, second):
    assert cal.add(cal.add(start, first), second) == cal.add(start, first + second)


@given(calendars, instants, durations, durations)
def test_time_between_adds_up_over_a_pause_in_the_middle(cal, start, first, second):
    middle, end = start + first, start + first + second
    whole = cal.between(start, end)
    assert cal.between(start, middle) + cal.between(middle, end) == whole
    assert whole <= end - start


@settings(max_examples=300)
@given(calendars, instants)
def test_a_minute_counts_only_when_open(cal, at):
    at = at.replace(second=0, microsecond=0)
    counted = cal.between(at, at + timedelta(minutes=1))
    assert (counted == timedelta(minutes=1)) == cal.is_open(at)


def test_friday_afternoon_plus_three_hours_is_monday_morning():
    cal = calendar()
    due = cal.add(local("Africa/Porto-Novo", 2026, 11, 27, 16, 0), timedelta(hours=3))
    assert due == local("Africa/Porto-Novo", 2026, 11, 30, 9, 30)


def test_a_holiday_is_skipped():
    cal = calendar()
    # Thursday 24 December 2026, 17:00: Christmas is a Friday.
    due = cal.add(local("Africa/Porto-Novo", 2026, 12, 24, 17, 0), timedelta(hours=1))
    assert due == local("Africa/Porto-Novo", 2026, 12, 28, 8, 30)


def test_a_business_day_is_the_longest_opening_of_the_week():
    cal = calendar(week=1)  # 7.5 h on weekdays, 4 h on Saturday
    assert parse_duration("1d", cal) == timedelta(hours=7, minutes=30)
    assert parse_duration("8h", cal) == timedelta(hours=8)
    assert parse_duration("30m", cal) == timedelta(minutes=30)
    # Friday 14:00 + 2 business days (15 h): Friday 3.5 h, Saturday 4, Monday 7.5.
    due = cal.add(local("Africa/Porto-Novo", 2026, 11, 27, 14, 0), 2 * cal.day_length)
    assert due == local("Africa/Porto-Novo", 2026, 11, 30, 17, 30)


def test_the_night_of_a_daylight_saving_change_lasts_what_it_lasts():
    cal = calendar("Europe/Paris", week=2)  # always open
    # 29 March 2026: clocks go from 02:00 to 03:00; the 30th is a holiday here.
    night = cal.between(
        local("Europe/Paris", 2026, 3, 28, 22, 0),
        local("Europe/Paris", 2026, 3, 29, 4, 0),
    )
    assert night == timedelta(hours=5)
    assert cal.day_length == timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("10", "duration"), ("3w", "duration"), ("-1h", "duration"), ("h", "duration")],
)
def test_a_bad_duration_says_what_is_expected(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_duration(text, calendar())


@pytest.mark.parametrize(
    "opening",
    [
        {"mon-fri": "17:30-08:00"},
        {"mon-fri": "08:00-25:00"},
        {"mon-fri": "08:60-10:00"},
        {"mon-fri": "08:00-12:00, 11:00-13:00"},
        {"moon": "08:00-12:00"},
    ],
)
def test_bad_opening_hours_are_refused(opening):
    with pytest.raises(ValueError, match=r"\w"):
        weekly(opening.items())


def test_a_calendar_never_open_is_refused():
    with pytest.raises(ValueError, match="opening hours"):
        Calendar(ZoneInfo("UTC"), weekly({}.items()))
