"""The demo's phone traffic around its stories: a month of calls answered,
abandoned, given up at once and served by the menu alone, so that every call
figure of the statistics (CONTRACT §10) has something to count.

Each call is stored as the webhooks and app.services.call_times leave a call of
its kind once it is over; the instants are written here because a month cannot
be played in the seconds a seeding takes. No ticket is filed for them: the
demo's requests are its stories, which already hold voicemails and callbacks.
"""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.extensions import db
from app.lines import Line
from app.models import Call, Caller, User

DAYS = 30
# (outcome, seconds waited for an agent, seconds talked), taken in turn all month.
PATTERN = (
    ("answered", 8, 185),
    ("answered", 14, 240),
    ("self_service", None, None),
    ("answered", 31, 310),
    ("abandoned", 45, None),
    ("answered", 6, 150),
    ("short_abandoned", 3, None),
    ("answered", 19, 420),
    ("self_service", None, None),
    ("answered", 52, 275),
    ("abandoned", 12, None),
)
MENU_SECONDS = 40  # in the menu before asking for an agent, or before hanging up


def _calls_on(day_number: int) -> int:
    """Three to six calls a day, not the same every day."""
    return 3 + (day_number * 5) % 4


def _call(
    number: int,
    started: datetime,
    caller: Caller,
    line: Line,
    agent: User,
) -> Call:
    outcome, wait, talk = PATTERN[number % len(PATTERN)]
    call = Call(
        call_sid=f"CAdemotraffic{number:020d}",
        caller=caller,
        from_raw=caller.phone_e164,
        line=line.number,
        direction="inbound",
        status="completed",
        language="fr",
        started_at=started,
    )
    in_menu = started + timedelta(seconds=MENU_SECONDS)
    if outcome == "self_service":
        call.ended_at = in_menu
    else:
        call.intent = "agent"
        call.wanted_agent_at = in_menu
        call.wait_seconds = wait
        call.ended_at = in_menu + timedelta(seconds=wait or 0)
    if outcome == "answered":
        call.agent_id = agent.id
        call.answered_at = call.ended_at
        call.talk_seconds = talk
        call.ended_at = call.answered_at + timedelta(seconds=talk or 0)
    call.duration = round((call.ended_at - started).total_seconds())
    return call


def add_traffic(
    callers: Sequence[Caller],
    lines: Sequence[Line],
    agents: Sequence[User],
    zone: ZoneInfo,
    now: datetime,
) -> int:
    """The month's calls up to `now`, in office hours of the centre's `zone`;
    how many were added."""
    today = now.astimezone(zone).date()
    number = added = 0
    for days_ago in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=days_ago)
        for _ in range(_calls_on(day.toordinal())):
            started = _office_time(day, number, zone)
            if started < now - timedelta(minutes=15):
                db.session.add(
                    _call(
                        number,
                        started,
                        callers[number % len(callers)],
                        lines[number % len(lines)],
                        agents[number % len(agents)],
                    )
                )
                added += 1
            number += 1
    db.session.flush()
    return added


def _office_time(day: date, number: int, zone: ZoneInfo) -> datetime:
    """Between 08:00 and 17:00 on `day`, spread by the call's number."""
    minutes = (number * 53) % (9 * 60)
    opening = datetime.combine(day, time(8), zone)
    return opening + timedelta(minutes=minutes)
