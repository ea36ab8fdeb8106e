"""SLA plans: the shipped file, how a plan is chosen, and errors that say where."""

from datetime import timedelta
from pathlib import Path

import pytest

from app import create_app
from app.sla import load_sla
from app.yamlmodel import ConfigFileError
from config import ROOT, TestingConfig

SHIPPED = ROOT / "config" / "sla.yaml"


def test_the_shipped_plans_load_with_their_calendars():
    plans = load_sla(SHIPPED)
    default = plans.plan_for("payment", "normal")
    assert default.name == "default"
    assert default.take_charge == timedelta(hours=9, minutes=30)  # 1 business day
    assert default.resolve == 10 * timedelta(hours=9, minutes=30)
    assert len(default.calendar.holidays) >= 20


@pytest.mark.parametrize(
    ("category", "priority", "appeal", "expected"),
    [
        ("payment", "normal", False, "default"),
        ("payment", "urgent", False, "urgent"),
        ("pension", "normal", False, "pension"),
        ("pension", "urgent", False, "pension-urgent"),
        ("pension", "high", False, "pension"),  # category outranks priority
        (None, "high", False, "high"),
        ("pension", "urgent", True, "appeal"),
    ],
)
def test_the_most_specific_plan_fits(tmp_path, category, priority, appeal, expected):
    path = tmp_path / "sla.yaml"
    path.write_text(
        """
calendars:
  always: {timezone: UTC, open: {mon-sun: "00:00-24:00"}}
plans:
  default: {calendar: always, take_charge: 1d, resolve: 10d}
  high: {calendar: always, priority: high, resolve: 5d}
  urgent: {calendar: always, priority: urgent, take_charge: 4h, resolve: 2d}
  pension: {calendar: always, category: pension, resolve: 15d}
  pension-urgent: {calendar: always, category: pension, priority: urgent, resolve: 1d}
  appeal: {calendar: always, take_charge: 1d, resolve: 5d}
""",
        encoding="utf-8",
    )
    assert load_sla(path).plan_for(category, priority, appeal).name == expected


def test_without_an_appeal_plan_appeals_follow_the_default(tmp_path):
    path = tmp_path / "sla.yaml"
    path.write_text(
        'calendars: {c: {timezone: UTC, open: {mon-fri: "09:00-17:00"}}}\n'
        "plans: {default: {calendar: c, resolve: 3d}}\n",
        encoding="utf-8",
    )
    plan = load_sla(path).plan_for(None, "normal", appeal=True)
    assert (plan.name, plan.take_charge, plan.resolve) == (
        "default",
        None,
        timedelta(hours=24),
    )


GOOD_CALENDAR = 'calendars:\n  c: {timezone: UTC, open: {mon-fri: "09:00-17:00"}}\n'


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            'calendars:\n  c: {timezone: Mars/Olympus, open: {mon: "09:00-17:00"}}\n'
            "plans: {default: {calendar: c}}\n",
            2,
            "unknown time zone",
        ),
        (
            'calendars:\n  c:\n    timezone: UTC\n    open: {mon: "17:00-09:00"}\n'
            "plans: {default: {calendar: c}}\n",
            4,
            "opening hours",
        ),
        (GOOD_CALENDAR + "plans:\n  urgent: {calendar: c}\n", 3, "'default'"),
        (
            # The file's path, not pydantic's ("...open.mon.str": a union's member).
            "calendars:\n  c:\n    timezone: UTC\n    open:\n      mon: 5\n"
            "plans: {default: {calendar: c}}\n",
            5,
            "calendars.c.open.mon: must be text",
        ),
        (
            GOOD_CALENDAR + "plans:\n  default:\n    calendar: c\n    deadline: 3d\n",
            6,
            "plans.default: unknown key 'deadline'",
        ),
        (
            GOOD_CALENDAR + "plans:\n  default:\n    resolve: 3d\n    calendar: x\n",
            6,
            "calendar 'x'",
        ),
        (
            GOOD_CALENDAR + "plans:\n  default: {calendar: c, resolve: 2 weeks}\n",
            4,
            "30m, 8h or 3d",
        ),
        (
            GOOD_CALENDAR + "plans:\n  default:\n    calendar: c\n    priority: asap\n",
            6,
            "priority",
        ),
        (
            GOOD_CALENDAR + "plans:\n  default:\n    calendar: c\n    deadline: 3d\n",
            6,
            "deadline",
        ),
        (GOOD_CALENDAR + "plans: [default]\n", 3, "plans"),
        ("calendars: {c: [\n", 2, "not valid YAML"),
    ],
)
def test_a_malformed_file_names_the_file_and_the_line(tmp_path, text, line, words):
    path = Path(tmp_path / "sla.yaml")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as raised:
        load_sla(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:{line}:" if line else f"{path}:")
    assert words in message


def test_app_does_not_start_on_a_malformed_sla_file(tmp_path):
    path = tmp_path / "sla.yaml"
    path.write_text(GOOD_CALENDAR + "plans:\n  urgent: {calendar: c}\n", "utf-8")

    class Broken(TestingConfig):
        SLA_FILE = str(path)

    with pytest.raises(ConfigFileError, match="'default'"):
        create_app(Broken)
