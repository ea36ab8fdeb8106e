"""The configuration files as an administrator reads them: lines, menus, SLA
plans and calendars, SMS texts and staff notices, in words, each with the file
it comes from. What is shown is what the app loaded at start-up, so a file
edited since shows only after a restart, as the page says."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

from babel.dates import format_date, get_day_names
from flask import current_app
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.business_time import Calendar
from app.email_text import EmailTexts, email_texts
from app.lines import Hours, Line, current_lines
from app.menus import Menu, menu_for
from app.notice_texts import NoticesFile, notice_texts
from app.sla import Plan, current_plans
from app.sms_text import SmsTexts, sms_texts

LANGUAGE_NAMES = {"fr": _l("French"), "en": _l("English")}
MENU_ACTIONS = {
    "complaint": _l("File a complaint or a request"),
    "follow_up": _l("Follow a request by its reference"),
    "information": _l("Hours and address"),
    "agent": _l("Speak to an agent"),
    "other_language": _l("The other language"),
    "repeat": _l("Repeat the menu"),
}
SMS_TEMPLATES = {
    "acknowledgment": _l("Request registered (its reference)"),
    "assigned": _l("Passed to a department"),
    "status_changed": _l("Status changed"),
    "resolved": _l("Resolved, with the answer"),
    "public_note": _l("Message from the centre"),
    "satisfaction": _l("Satisfaction question"),
    "status_reply": _l("Answer to a status asked by text"),
    "new_ticket": _l("Request registered from a text"),
    "rating_thanks": _l("Thanks for the rating"),
    "opted_out": _l("Texts stopped (STOP)"),
    "opted_in": _l("Texts resumed"),
}
NOTICE_EVENTS = {
    "focal_link": _l("A request passed to a focal point (their link)"),
    "reminder": _l("Deadline reminder"),
    "escalation_service": _l("Escalation to the service's head"),
    "escalation_centre": _l("Escalation to the centre's supervisors"),
}

Span = tuple[int, int]  # minutes after local midnight
DASH = "\u2013"  # an en dash between two times


@dataclass(frozen=True)
class Source:
    """Where a section comes from: the setting that names it and its path."""

    setting: str
    path: str


def source(setting: str) -> Source:
    return Source(setting, str(current_app.config[setting]))


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "fr"


def language_name(code: str) -> str:
    return str(LANGUAGE_NAMES.get(code, code))


def _clock(minute: int) -> str:
    return "24:00" if minute >= 24 * 60 else f"{minute // 60:02d}:{minute % 60:02d}"


def week_in_words(week: Iterable[Iterable[Span]]) -> list[str]:
    """'Monday to Friday: 08:00-12:00, 14:00-17:30', one line per run of days
    with the same hours; an empty list when never open."""
    days = [tuple(sorted(spans)) for spans in week]
    names = get_day_names("wide", locale=_language())
    said: list[str] = []
    start = 0
    while start < 7:
        spans = days[start]
        end = start
        while end + 1 < 7 and days[end + 1] == spans:
            end += 1
        if spans:
            first, last = names[start], names[end]
            if start == 0 and end == 6:
                when = _("Every day")
            elif start == end:
                when = first
            else:
                when = _("%(first)s to %(last)s", first=first, last=last)
            if spans == ((0, 24 * 60),):
                hours = _("around the clock")
            else:
                hours = ", ".join(f"{_clock(a)}{DASH}{_clock(b)}" for a, b in spans)
            said.append(_("%(days)s: %(hours)s", days=when, hours=hours))
        start = end + 1
    return said


def _minute(at: time) -> int:
    return 24 * 60 if at == time.max else at.hour * 60 + at.minute


def line_week(hours: Hours) -> list[str]:
    return week_in_words(
        [(_minute(a), _minute(b)) for a, b in hours.weekly.get(day, ())]
        for day in range(7)
    )


def dates_in_words(days: Iterable[date]) -> list[str]:
    return [format_date(day, "long", locale=_language()) for day in sorted(days)]


def quiet_hours(line: Line) -> str | None:
    if line.quiet_hours is None:
        return None
    start, end = line.quiet_hours
    return f"{start:%H:%M}{DASH}{end:%H:%M}"


def business_duration(duration: timedelta | None, calendar: Calendar) -> str:
    """A deadline as the file wrote it: business days, hours or minutes."""
    if duration is None:
        return _("none")
    day = calendar.day_length
    if day and duration % day == timedelta(0):
        count = duration // day
        return ngettext("%(num)d business day", "%(num)d business days", count)
    minutes = int(duration.total_seconds() // 60)
    if minutes % 60 == 0:
        return ngettext(
            "%(num)d business hour", "%(num)d business hours", minutes // 60
        )
    return ngettext("%(num)d business minute", "%(num)d business minutes", minutes)


@dataclass(frozen=True)
class PlanRow:
    plan: Plan
    calendar: str
    take_charge: str
    resolve: str


def plan_rows() -> list[PlanRow]:
    plans = current_plans()
    names = {id(calendar): name for name, calendar in plans.calendars}
    return [
        PlanRow(
            plan,
            names.get(id(plan.calendar), "—"),
            business_duration(plan.take_charge, plan.calendar),
            business_duration(plan.resolve, plan.calendar),
        )
        for plan in plans.plans
    ]


def calendars() -> list[tuple[str, Calendar]]:
    return list(current_plans().calendars)


def lines() -> list[tuple[Line, Menu]]:
    return [(line, menu_for(line)) for line in current_lines().lines]


def menus() -> list[Menu]:
    return list(current_app.extensions["menus"].values())


def menu_file(menu: Menu) -> str:
    return str(Path(current_app.config["MENUS_DIR"]) / f"{menu.name}.yaml")


def sms() -> SmsTexts:
    return sms_texts()


def notices() -> NoticesFile:
    return notice_texts()


def emails() -> EmailTexts:
    return email_texts()


def label_of(labels: dict[str, str]) -> str:
    """A category's label in the page's language, else its first one."""
    return labels.get(_language()) or next(iter(labels.values()), "")
