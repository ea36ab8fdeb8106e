"""The lines a centre answers (LINES_FILE), with their opening hours."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from app.business_time import MINUTES_A_DAY, day_keys, minute_spans
from app.phone import to_e164
from app.yamlfile import ConfigFileError, Fields, load_yaml

UTC_ZONE = ZoneInfo("UTC")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Hours:
    timezone: ZoneInfo
    # weekday (0 = Monday) -> opening spans in local time
    weekly: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.timezone)
        if local.date() in self.holidays:
            return False
        now = local.time()
        return any(
            start <= now < end for start, end in self.weekly.get(local.weekday(), ())
        )


@dataclass(frozen=True)
class Line:
    number: str
    name: str
    language: str = "fr"
    menu: str = "default"
    record_calls: bool = False
    hours: Hours | None = None
    # Complaint categories as (key, {language: label}); None means the menu's own.
    categories: tuple[tuple[str, dict[str, str]], ...] | None = None
    # SMS: no follow-up sent inside these local hours (they wait till morning).
    quiet_hours: tuple[time, time] | None = None
    messaging_service_sid: str | None = None
    whatsapp: bool = False  # follow-ups over WhatsApp to callers who use it
    sms_accents: bool = False  # keep accents (UCS-2, 70 characters a segment)
    zone: ZoneInfo = UTC_ZONE  # a line without hours still has a local time
    retention_days: int | None = None  # recordings; None: RECORDINGS_RETENTION_DAYS

    def sms_allowed_at(self, at: datetime) -> datetime:
        """`at`, or the end of the quiet hours it falls in."""
        if self.quiet_hours is None:
            return at
        start, end = self.quiet_hours
        local = at.astimezone(self.timezone)
        now = local.time()
        quiet = start <= now < end if start < end else (now >= start or now < end)
        if not quiet:
            return at
        wake = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if wake <= local:
            wake += timedelta(days=1)
        return wake.astimezone(at.tzinfo)

    def is_open(self, at: datetime) -> bool:
        return self.hours is None or self.hours.is_open(at)

    @property
    def timezone(self) -> ZoneInfo:
        return self.hours.timezone if self.hours else self.zone


@dataclass(frozen=True)
class Lines:
    lines: tuple[Line, ...]
    by_number: dict[str, Line] = field(default_factory=dict)

    def for_number(self, to: str | None) -> Line:
        """The line called; an unknown number gets the first line (CONTRACT §1)."""
        return self.by_number.get((to or "").strip(), self.lines[0])


def _spans(value: object) -> tuple[tuple[time, time], ...]:
    """Opening spans as local times; 24:00 is the last instant of the day."""
    return tuple(
        (_clock(start), time.max if end == MINUTES_A_DAY else _clock(end))
        for start, end in minute_spans(value)
    )


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def parse_hours(fields: Fields) -> Hours:
    zone_name = fields.get("timezone", str)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise fields.error("timezone", f"unknown time zone '{zone_name}'") from None
    opening = fields.sub("open", "hours.open")
    weekly: dict[int, tuple[tuple[time, time], ...]] = {}
    for spec, value in opening.mapping.items():
        try:
            days, spans = day_keys(str(spec)), _spans(value)
        except ValueError as bad:
            raise opening.error(
                str(spec),
                f"'{spec}: {value}' is not like 'mon-fri: \"08:00-17:30\"' ({bad})",
            ) from None
        for day in days:
            weekly[day] = weekly.get(day, ()) + spans
    holidays = set()
    for item in fields.get("holidays", list, []):
        try:
            holidays.add(
                item if isinstance(item, date) else date.fromisoformat(str(item))
            )
        except ValueError:
            raise fields.error(
                "holidays", f"holiday '{item}' is not a date (YYYY-MM-DD)"
            ) from None
    return Hours(zone, weekly, frozenset(holidays))


def parse_categories(
    fields: Fields, key: str
) -> tuple[tuple[str, dict[str, str]], ...]:
    """Categories as a list of keys or of {key, fr, en} mappings."""
    items = fields.get(key, list)
    result = []
    for item in items:
        if isinstance(item, str):
            labels = {"fr": item, "en": item}
            item_key = re.sub(r"[^a-z0-9]+", "_", item.lower()).strip("_")
        else:
            category = Fields(fields.path, item, "category", fields.line(key))
            item_key = category.get("key", str)
            labels = {
                lang: str(label)
                for lang, label in category.mapping.items()
                if lang != "key"
            }
        if not re.fullmatch(r"[a-z0-9_]{1,64}", item_key):
            raise fields.error(key, f"category key '{item_key}' must be a-z, 0-9 or _")
        result.append((item_key, labels))
    if not result:
        raise fields.error(key, "at least one category is needed")
    return tuple(result)


def load_lines(path: str | Path, region: str = "BJ") -> Lines:
    document = Fields(path, load_yaml(path), "lines file")
    items = document.get("lines", list)
    if not items:
        raise ConfigFileError(path, document.line("lines"), "'lines' is empty")
    lines = []
    for item in items:
        fields = Fields(path, item, "line", document.line("lines"))
        raw_number = str(fields.get("number", (str, int)))
        number = to_e164(raw_number, region)
        if number is None:
            raise fields.error("number", f"'{raw_number}' is not a valid phone number")
        language = fields.get("language", str, "fr")
        if language not in ("fr", "en"):
            raise fields.error("language", "language must be fr or en")
        hours = (
            parse_hours(fields.sub("hours", "hours"))
            if fields.mapping.get("hours")
            else None
        )
        categories = (
            parse_categories(fields, "categories")
            if fields.mapping.get("categories")
            else None
        )
        quiet_hours = None
        if fields.mapping.get("sms_quiet_hours"):
            match = _SPAN.match(str(fields.mapping["sms_quiet_hours"]).replace(" ", ""))
            if not match:
                raise fields.error(
                    "sms_quiet_hours", "sms_quiet_hours is like '21:00-07:00'"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            try:
                quiet_hours = (time(h1, m1), time(h2, m2))
            except ValueError:
                raise fields.error("sms_quiet_hours", "not a time of day") from None
        service = fields.get("messaging_service_sid", str, None)
        if service is not None and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            raise fields.error(
                "messaging_service_sid", "a Messaging Service SID is MG + 32 hex"
            )
        zone = ZoneInfo("UTC")
        if fields.mapping.get("timezone"):
            try:
                zone = ZoneInfo(fields.get("timezone", str))
            except (ZoneInfoNotFoundError, ValueError):
                raise fields.error("timezone", "unknown time zone") from None
        lines.append(
            Line(
                number=number,
                name=fields.get("name", str),
                language=language,
                menu=fields.get("menu", str, "default"),
                record_calls=fields.get("record_calls", bool, False),
                hours=hours,
                categories=categories,
                quiet_hours=quiet_hours,
                messaging_service_sid=service,
                whatsapp=fields.get("whatsapp", bool, False),
                sms_accents=fields.get("sms_accents", bool, False),
                zone=zone,
                retention_days=fields.get("retention_days", int, None),
            )
        )
    by_number: dict[str, Line] = {}
    for line in lines:
        if line.number in by_number:
            raise ConfigFileError(path, None, f"line {line.number} is listed twice")
        by_number[line.number] = line
    return Lines(tuple(lines), by_number)


def current_lines() -> Lines:
    """The lines loaded at start-up by create_app()."""
    return current_app.extensions["lines"]
