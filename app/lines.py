"""The lines a centre answers (LINES_FILE), with their opening hours."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.business_time import MINUTES_A_DAY, day_keys, minute_spans
from app.phone import to_e164
from app.yamlmodel import Problem, load_model

UTC_ZONE = ZoneInfo("UTC")


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


# Quiet hours "21:00-07:00": unlike opening hours, they may wrap past midnight.
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# What a line, a menu and a text may speak.
LANGUAGES = ("fr", "en")


def _spans(value: object) -> tuple[tuple[time, time], ...]:
    """Opening spans as local times; 24:00 is the last instant of the day."""
    try:
        spans = minute_spans(value)
    except ValueError as bad:
        raise ValueError(
            f"'{value}' is not like \"08:00-12:00, 14:00-17:30\" ({bad})"
        ) from None
    return tuple(
        (_clock(start), time.max if end == MINUTES_A_DAY else _clock(end))
        for start, end in spans
    )


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def _day_keys(spec: str) -> str:
    try:
        day_keys(spec)
    except ValueError as bad:
        raise ValueError(
            f"'{spec}' is not like mon-fri, sat or mon,wed ({bad})"
        ) from None
    return spec


def _zone_name(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}'") from None
    return name


def _phone_number(value: object, info: ValidationInfo) -> str:
    raw = str(value)
    number = to_e164(raw, (info.context or {}).get("region", "BJ"))
    if number is None:
        raise ValueError(f"'{raw}' is not a valid phone number")
    return number


def _quiet_hours(value: object) -> tuple[time, time]:
    match = _SPAN.match(str(value).replace(" ", ""))
    if not match:
        raise ValueError("sms_quiet_hours is like '21:00-07:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError("not a time of day") from None


def _messaging_service(sid: str) -> str:
    if not re.fullmatch(r"MG[0-9a-fA-F]{32}", sid):
        raise ValueError("a Messaging Service SID is MG + 32 hex")
    return sid


def _menu_name(name: str) -> str:
    # It names a file in MENUS_DIR: no path may sneak in.
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"menu name '{name}' is not a file name")
    return name


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError("language must be fr or en")
    return value


TimeZoneName = Annotated[str, AfterValidator(_zone_name)]
DaySpec = Annotated[str, AfterValidator(_day_keys)]
Spans = Annotated[tuple[tuple[time, time], ...], BeforeValidator(_spans)]
Language = Annotated[str, AfterValidator(_language)]
# SMS: no follow-up sent inside these local hours (they wait till morning).
QuietHours = Annotated[tuple[time, time], BeforeValidator(_quiet_hours)]
MessagingServiceSid = Annotated[str, AfterValidator(_messaging_service)]


class HoursSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: TimeZoneName
    open: dict[DaySpec, Spans]
    holidays: list[date] = Field(default_factory=list)

    def build(self) -> Hours:
        weekly: dict[int, tuple[tuple[time, time], ...]] = {}
        for spec, spans in self.open.items():
            for day in day_keys(spec):
                weekly[day] = weekly.get(day, ()) + spans
        return Hours(ZoneInfo(self.timezone), weekly, frozenset(self.holidays))


def _category_from_words(value: object) -> object:
    """A category written as its label alone: the key is made from the label."""
    if isinstance(value, str):
        key = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
        return {"key": key, "fr": value, "en": value}
    return value


class CategorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    fr: str | None = None
    en: str | None = None

    @field_validator("key")
    @classmethod
    def _plain_key(cls, key: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]{1,64}", key):
            raise ValueError(f"category key '{key}' must be a-z, 0-9 or _")
        return key

    @model_validator(mode="after")
    def _labelled(self) -> "CategorySpec":
        if not self.labels():
            raise ValueError(f"category '{self.key}' needs a label (fr or en)")
        return self

    def labels(self) -> dict[str, str]:
        return {
            lang: label
            for lang in LANGUAGES
            if (label := getattr(self, lang)) is not None
        }


Category = Annotated[CategorySpec, BeforeValidator(_category_from_words)]
# Complaint categories as a list of labels or of {key, fr, en} mappings.
Categories = Annotated[list[Category], Field(min_length=1)]


def categories_of(
    specs: list[CategorySpec],
) -> tuple[tuple[str, dict[str, str]], ...]:
    return tuple((spec.key, spec.labels()) for spec in specs)


class LineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, BeforeValidator(_phone_number)]
    name: str
    language: Language = "fr"
    menu: Annotated[str, AfterValidator(_menu_name)] = "default"
    record_calls: StrictBool = False
    hours: HoursSpec | None = None
    timezone: TimeZoneName | None = None
    categories: Categories | None = None
    sms_quiet_hours: QuietHours | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    whatsapp: StrictBool = False
    sms_accents: StrictBool = False
    retention_days: Annotated[StrictInt, Field(ge=0)] | None = None

    @field_validator("categories", mode="before")
    @classmethod
    def _empty_is_the_menus(cls, value: object) -> object:
        # An empty list, like no list, leaves the menu's own categories.
        return value or None

    def build(self) -> Line:
        return Line(
            number=self.number,
            name=self.name,
            language=self.language,
            menu=self.menu,
            record_calls=self.record_calls,
            hours=self.hours.build() if self.hours else None,
            categories=categories_of(self.categories) if self.categories else None,
            quiet_hours=self.sms_quiet_hours,
            messaging_service_sid=self.messaging_service_sid,
            whatsapp=self.whatsapp,
            sms_accents=self.sms_accents,
            zone=ZoneInfo(self.timezone) if self.timezone else UTC_ZONE,
            retention_days=self.retention_days,
        )


class LinesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[LineSpec] = Field(min_length=1)

    def problems(self) -> Iterator[Problem]:
        seen: set[str] = set()
        for index, line in enumerate(self.lines):
            if line.number in seen:
                yield Problem(
                    ("lines", index, "number"), f"line {line.number} is listed twice"
                )
            seen.add(line.number)

    def build(self) -> Lines:
        lines = tuple(spec.build() for spec in self.lines)
        return Lines(lines, {line.number: line for line in lines})


def load_lines(path: str | Path, region: str = "BJ") -> Lines:
    """The lines file; numbers written without + are read in `region`."""
    return load_model(path, LinesFile, context={"region": region}).build()


def current_lines() -> Lines:
    """The lines loaded at start-up by create_app()."""
    return current_app.extensions["lines"]
