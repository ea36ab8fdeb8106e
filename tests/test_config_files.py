"""Lines and menus as YAML: shipped files load, malformed ones name file and line."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import create_app
from app.lines import load_lines
from app.menus import load_menu, load_menus
from app.yamlmodel import ConfigFileError
from config import ROOT, TestingConfig

LINES = ROOT / "config" / "lines.yaml"
MENUS = ROOT / "config" / "menus"


def test_shipped_lines_and_default_menu_load():
    lines = load_lines(LINES)
    assert len(lines.lines) == 3
    menus = load_menus(MENUS, lines)
    menu = menus["default"]
    assert menu.languages == ("fr", "en")
    assert len(menu.categories) >= 2
    assert menu.options == {
        "1": "complaint",
        "2": "follow_up",
        "3": "information",
        "0": "agent",
        "9": "other_language",
        "*": "repeat",
    }
    assert menu.voices["fr"].language == "fr-FR"


def test_unknown_number_is_served_by_the_first_line():
    lines = load_lines(LINES)
    assert lines.for_number("+22900000000").number == lines.lines[0].number
    assert lines.for_number(None) is lines.lines[0]
    assert lines.for_number("+2290121300001").name == "Hotline Trésor 1"


def test_opening_hours_with_time_zone_and_holidays(tmp_path):
    path = tmp_path / "lines.yaml"
    path.write_text(
        """
lines:
  - number: "+2290121300000"
    name: Test
    hours:
      timezone: Africa/Porto-Novo
      open: {mon-fri: "08:00-12:00, 14:00-17:30", sat: "09:00-12:00"}
      holidays: ["2026-12-25"]
"""
    )
    line = load_lines(path).lines[0]
    # 2026-11-23 is a Monday; Porto-Novo is UTC+1.
    assert line.is_open(datetime(2026, 11, 23, 7, 30, tzinfo=UTC))  # 08:30 local
    assert not line.is_open(datetime(2026, 11, 23, 6, 30, tzinfo=UTC))  # 07:30
    assert not line.is_open(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # 13:00 lunch
    assert line.is_open(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))  # Saturday 10:00
    assert not line.is_open(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))  # Sunday
    assert not line.is_open(datetime(2026, 12, 25, 9, 0, tzinfo=UTC))  # Christmas


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "lines:\n  - number: '+2290121300000'\n    name: [unclosed\n",
            4,
            "not valid YAML",
        ),
        ("lines:\n  - name: A\n", 2, "missing 'number'"),
        ("lines:\n  - number: 'hello'\n    name: A\n", 2, "not a valid phone number"),
        (
            "lines:\n  - number: '+2290121300000'\n    name: A\n    language: de\n",
            4,
            "fr or en",
        ),
        (
            "lines:\n  - number: '+2290121300000'\n    name: A\n    hours:\n"
            "      timezone: Mars/Olympus\n      open: {mon: '08:00-17:00'}\n",
            5,
            "unknown time zone",
        ),
        (
            "lines:\n  - number: '+2290121300000'\n    name: A\n    hours:\n"
            "      timezone: UTC\n      open: {mon: '17:00-08:00'}\n",
            6,
            "is not like",
        ),
        ("lines: []\n", 1, "empty"),
    ],
)
def test_malformed_lines_file_names_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as caught:
        load_lines(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message


def test_malformed_menu_names_file_and_line(tmp_path):
    text = (
        (MENUS / "default.yaml").read_text().replace('"3": information', '"3": dance')
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as caught:
        load_menu(path, "broken")
    line = text.splitlines().index('  "3": dance') + 1
    assert str(caught.value).startswith(f"{path}:{line}:")
    assert "unknown action 'dance'" in str(caught.value)


def test_menu_missing_a_prompt_is_refused(tmp_path):
    text = (MENUS / "default.yaml").read_text().replace("    goodbye:", "    farewell:")
    with pytest.raises(ConfigFileError, match="missing 'goodbye'"):
        load_menu(write(tmp_path, text), "broken")


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        ("{heures}", "'opening_hours' uses {heures}, which is not one of its"),
        ("{hours", "'opening_hours' has a stray brace"),
        ("{}", "'opening_hours' uses {}"),
    ],
)
def test_menu_prompt_with_a_wrong_placeholder_is_refused(tmp_path, wrong, words):
    # Caught at start-up, not by a caller out of hours.
    right = 'opening_hours: "Nous vous répondons {hours}."'
    text = (MENUS / "default.yaml").read_text()
    assert right in text
    path = write(tmp_path, text.replace(right, right.replace("{hours}", wrong)))
    with pytest.raises(ConfigFileError) as caught:
        load_menu(path, "broken")
    line = next(
        number for number, row in enumerate(text.splitlines(), start=1) if right in row
    )
    assert str(caught.value).startswith(f"{path}:{line}:")
    assert words in str(caught.value)


def test_app_does_not_start_on_a_malformed_lines_file(tmp_path):
    path = write(tmp_path, "lines:\n  - number: '+2290121300000'\n  name: oops\n")

    class Broken(TestingConfig):
        LINES_FILE = str(path)

    with pytest.raises(ConfigFileError, match=re.escape(str(path))):
        create_app(Broken)


def test_line_naming_a_missing_menu_stops_start_up(tmp_path):
    path = write(
        tmp_path, "lines:\n  - {number: '+2290121300000', name: A, menu: nope}\n"
    )
    with pytest.raises(ConfigFileError, match=r"nope\.yaml"):
        load_menus(MENUS, load_lines(path))
