"""SLA plans (SLA_FILE, CONTRACT §8.2): a request's deadlines, and their calendar.

Read once at start-up, like the lines file: a malformed file stops the app with an
error naming the file and the line.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.business_time import Calendar, parse_duration, weekly
from app.yamlmodel import Problem, load_model

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class Plan:
    name: str
    calendar: Calendar
    take_charge: timedelta | None
    resolve: timedelta | None
    category: str | None = None
    priority: str | None = None

    @property
    def specificity(self) -> int:
        """Category and priority, then category, then priority, then neither."""
        return 2 * (self.category is not None) + (self.priority is not None)

    def fits(self, category: str | None, priority: str) -> bool:
        return self.category in (None, category) and self.priority in (None, priority)


@dataclass(frozen=True)
class SlaPlans:
    plans: tuple[Plan, ...]  # in file order
    # By name, as the file calls them (the administration page shows them).
    calendars: tuple[tuple[str, Calendar], ...] = ()

    def plan_for(
        self, category: str | None, priority: str, appeal: bool = False
    ) -> Plan:
        """The most specific plan fitting the request; `appeal` for reopened ones."""
        if appeal:
            return self.named("appeal") or self.named("default")  # type: ignore[return-value]
        fitting = [
            plan
            for plan in self.plans
            if plan.name != "appeal" and plan.fits(category, priority)
        ]
        return max(fitting, key=lambda plan: plan.specificity)

    def named(self, name: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.name == name), None)


class CalendarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str
    open: dict[str, str | list[str]]
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    def build(self) -> Calendar:
        return Calendar(
            ZoneInfo(self.timezone), weekly(self.open.items()), frozenset(self.holidays)
        )


class PlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calendar: str
    category: str | None = None
    priority: Priority | None = None
    take_charge: str | None = None
    resolve: str | None = None


class SlaFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calendars: dict[str, CalendarSpec]
    plans: dict[str, PlanSpec]

    def problems(self) -> Iterator[Problem]:
        """What the shape alone does not tell: names that must refer to each other."""
        for name, spec in self.calendars.items():
            try:
                spec.build()
            except ValueError as bad:
                yield Problem(("calendars", name, "open"), f"opening hours: {bad}")
        if "default" not in self.plans:
            yield Problem(("plans",), "a plan named 'default' is required")
        for name, plan in self.plans.items():
            if plan.calendar not in self.calendars:
                yield Problem(
                    ("plans", name, "calendar"), f"no calendar '{plan.calendar}'"
                )
                continue
            for key in ("take_charge", "resolve"):
                deadline = getattr(plan, key)
                try:
                    if deadline is not None:
                        parse_duration(deadline, self.calendars[plan.calendar].build())
                except ValueError as bad:
                    yield Problem(("plans", name, key), str(bad))

    def build(self) -> SlaPlans:
        calendars = {name: spec.build() for name, spec in self.calendars.items()}
        plans = []
        for name, spec in self.plans.items():
            calendar = calendars[spec.calendar]
            plans.append(
                Plan(
                    name=name,
                    calendar=calendar,
                    take_charge=_deadline(spec.take_charge, calendar),
                    resolve=_deadline(spec.resolve, calendar),
                    category=spec.category,
                    priority=spec.priority,
                )
            )
        return SlaPlans(tuple(plans), tuple(calendars.items()))


def _deadline(text: str | None, calendar: Calendar) -> timedelta | None:
    return None if text is None else parse_duration(text, calendar)


def load_sla(path: str | Path) -> SlaPlans:
    return load_model(path, SlaFile).build()


def current_plans() -> SlaPlans:
    return current_app.extensions["sla"]
