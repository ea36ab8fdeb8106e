"""Lines and menus as YAML: shipped files load, malformed ones name file and line."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import create_app
from app.lines import load_lines
from app.menus import load_menu, load_menus
from app.sms_text import load_sms_texts
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


LINE = "lines:\n  - number: '+2290121300000'\n    name: A\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (LINE + "    colour: red\n", 4, "lines[0]: unknown key 'colour'"),
        (LINE + "    record_calls: 'yes'\n", 4, "record_calls: must be true or false"),
        (LINE + "    retention_days: -1\n", 4, "retention_days: must be 0 or more"),
        (LINE + "    retention_days: 30.5\n", 4, "must be a whole number"),
        ("lines:\n  - number: '+2290121300000'\n    name: 12\n", 3, "must be text"),
        (
            LINE + "    hours:\n      timezone: UTC\n      open: {mon: '08:00-17:00'}\n"
            "      holidays:\n        - 2026-12-25\n        - 2026-13-01\n",
            9,
            "holidays[1]: '2026-13-01' is not a date",
        ),
        (
            LINE + "    hours:\n      timezone: UTC\n      open:\n"
            "        mon: '08:00-12:00'\n        mun: '14:00-17:00'\n",
            8,
            "open.mun: 'mun' is not like",
        ),
        (
            LINE + "    categories:\n      - Paiements\n      - {key: delay}\n",
            6,
            "category 'delay' needs a label",
        ),
        (LINE + "    menu: ../../etc/x\n", 4, "menu name '../../etc/x' is not a file"),
        (LINE + "    sms_quiet_hours: 21\n", 4, "is like '21:00-07:00'"),
        (LINE + "    messaging_service_sid: MG12\n", 4, "MG + 32 hex"),
        (
            LINE + "  - number: '0121300000'\n    name: B\n",
            4,
            "lines[1].number: line +2290121300000 is listed twice",
        ),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ],
)
def test_lines_file_mistakes_name_the_key_and_its_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as caught:
        load_lines(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message


@pytest.mark.parametrize(
    ("right", "wrong", "words"),
    [
        ("    goodbye:", "    farewell: x\n    goodbye:", "unknown key 'farewell'"),
        ('      closed: "clôturé"\n', "", "statuses: missing 'closed'"),
        ("[répéter, répétez,", "[répéter, 'répétez, oui',", "no commas"),
        ('  "*": repeat', '  "10": repeat', "option key '10' must be one keypad key"),
        ("languages: [fr, en]", "languages: [fr, de]", "language must be fr or en"),
        ("  en: {voice: Polly.Amy-Neural, language: en-GB}\n", "", "missing 'en'"),
    ],
)
def test_menu_mistakes_name_the_key_and_its_line(tmp_path, right, wrong, words):
    text = (MENUS / "default.yaml").read_text()
    assert right in text
    changed = text.replace(right, wrong, 1)
    path = write(tmp_path, changed)
    with pytest.raises(ConfigFileError) as caught:
        load_menu(path, "broken")
    message = str(caught.value)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", message), message
    assert words in message


def test_menu_error_points_at_the_line_of_the_wrong_keyword(tmp_path):
    text = (MENUS / "default.yaml").read_text()
    right = "    repeat: [répéter, répétez, recommencer]"
    block = "    repeat:\n      - répéter\n      - 'répétez, recommencez'\n"
    path = write(tmp_path, text.replace(right + "\n", block, 1))
    with pytest.raises(ConfigFileError) as caught:
        load_menu(path, "broken")
    line = text.splitlines().index(right) + 3
    assert str(caught.value).startswith(f"{path}:{line}: keywords.fr.repeat[1]:")


SMS = ROOT / "config" / "sms.yaml"


@pytest.mark.parametrize(
    ("right", "wrong", "row", "words"),
    [
        (
            "  rating_thanks:",
            "  rating_thankz:",
            "templates:",
            "templates: missing 'rating_thanks'",
        ),
        (
            "    waiting:",
            "    waitng:",
            "    waitng:",
            "statuses.fr.waitng: 'waitng' is not 'new'",
        ),
        (
            "    resolved: ",
            "    # resolved: ",
            "  fr:",
            "statuses.fr: missing 'resolved'",
        ),
        (
            '    en: "Thank you for rating',
            '    de: "Danke."\n    en: "Thank you for rating',
            "    de:",
            "templates.rating_thanks: unknown key 'de'",
        ),
    ],
)
def test_sms_file_mistakes_name_the_key_and_its_line(
    tmp_path, right, wrong, row, words
):
    text = SMS.read_text()
    assert right in text
    changed = text.replace(right, wrong, 1)
    path = write(tmp_path, changed)
    with pytest.raises(ConfigFileError) as caught:
        load_sms_texts(path)
    # The first row starting so; statuses' "  fr:" is the first at that depth.
    line = next(
        number
        for number, text_row in enumerate(changed.splitlines(), start=1)
        if text_row == row or text_row.startswith(row + " ")
    )
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {words}"), message


def test_app_does_not_start_on_a_malformed_sms_file(tmp_path):
    path = write(tmp_path, SMS.read_text().replace("  opted_in:", "  opted_inn:"))

    class Broken(TestingConfig):
        SMS_FILE = str(path)

    with pytest.raises(ConfigFileError, match=r"missing 'opted_in'"):
        create_app(Broken)
