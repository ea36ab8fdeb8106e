"""IVR menus as data (config/menus/<name>.yaml): prompts, keywords, categories."""

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from app.lines import Line, Lines, current_lines, parse_categories
from app.yamlfile import ConfigFileError, Fields, load_yaml

# What a menu option can do; the digits that lead to them are the menu file's.
ACTIONS = ("complaint", "follow_up", "information", "agent", "other_language", "repeat")

PROMPTS = (
    "welcome",
    "main_menu",
    "no_input",
    "invalid_choice",
    "category_menu",
    "category_option",
    "recording_notice",
    "record_instructions",
    "no_message",
    "reference_intro",
    "reference_sms",
    "goodbye",
    "follow_up_prompt",
    "reference_invalid",
    "reference_unknown",
    "status_report",
    "information",
    "closed",
    "agent_unavailable",
    "technical_problem",
    "please_hold",
    "queue_position",
    "queue_options",
)
STATUS_NAMES = ("new", "assigned", "in_progress", "resolved", "closed", "reopened")


@dataclass(frozen=True)
class Voice:
    voice: str
    language: str  # BCP-47 tag for <Say> and for <Gather> speech recognition


@dataclass(frozen=True)
class Menu:
    name: str
    languages: tuple[str, ...]
    voices: dict[str, Voice]
    options: dict[str, str]  # key pressed -> action
    keywords: dict[str, dict[str, tuple[str, ...]]]  # language -> action -> words
    categories: tuple[tuple[str, dict[str, str]], ...]
    prompts: dict[str, dict[str, str]]  # language -> prompt name -> text
    statuses: dict[str, dict[str, str]]  # language -> ticket status -> spoken name

    def language(self, requested: str | None, fallback: str) -> str:
        if requested in self.languages:
            return requested
        return fallback if fallback in self.languages else self.languages[0]

    def other_language(self, lang: str) -> str:
        others = [code for code in self.languages if code != lang]
        return others[0] if others else lang

    def say(self, lang: str, prompt: str, **values: object) -> str:
        return self.prompts[lang][prompt].format(**values)

    def categories_for(self, line: Line) -> tuple[tuple[str, dict[str, str]], ...]:
        return line.categories or self.categories

    def option_for(self, lang: str, digits: str, speech: str) -> str | None:
        """The action a caller chose by key or by voice, or None if nothing matched."""
        if digits:
            return self.options.get(digits)
        words = normalise(speech).split()
        if not words:
            return None
        if len(words) == 1 and words[0] in self.options:
            return self.options[words[0]]
        # The keyword said first wins: "pas une plainte, un suivi" is rare on a phone.
        found: list[tuple[int, str]] = []
        for action, keywords in self.keywords.get(lang, {}).items():
            for keyword in keywords:
                position = _find_words(words, keyword.split())
                if position is not None:
                    found.append((position, action))
        return min(found)[1] if found else None


def normalise(text: str) -> str:
    """Lower case, no accents, no punctuation: how speech results are compared."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9*#]+", " ", bare).strip()


def _find_words(words: list[str], phrase: list[str]) -> int | None:
    for start in range(len(words) - len(phrase) + 1):
        if words[start : start + len(phrase)] == phrase:
            return start
    return None


def load_menu(path: str | Path, name: str) -> Menu:
    document = Fields(path, load_yaml(path), "menu file")
    languages = tuple(document.get("languages", list))
    if not languages or any(code not in ("fr", "en") for code in languages):
        raise document.error("languages", "languages must list fr and/or en")

    voices_fields = document.sub("voices", "voices")
    voices = {}
    for code in languages:
        voice = voices_fields.sub(code, f"voices.{code}")
        voices[code] = Voice(voice.get("voice", str), voice.get("language", str))

    options_fields = document.sub("options", "options")
    options = {str(key): str(action) for key, action in options_fields.mapping.items()}
    for key, action in options.items():
        if action not in ACTIONS:
            raise options_fields.error(
                key, f"unknown action '{action}' ({', '.join(ACTIONS)})"
            )
        if not re.fullmatch(r"[0-9*#]", key):
            raise options_fields.error(
                key, f"option key '{key}' must be one keypad key"
            )

    keywords_fields = document.sub("keywords", "keywords")
    keywords: dict[str, dict[str, tuple[str, ...]]] = {}
    for code in languages:
        per_action = keywords_fields.sub(code, f"keywords.{code}")
        keywords[code] = {}
        for action, words in per_action.mapping.items():
            if action not in ACTIONS or not isinstance(words, list):
                raise per_action.error(
                    action, f"'{action}' must be an action with a word list"
                )
            keywords[code][action] = tuple(normalise(str(word)) for word in words)

    prompts_fields = document.sub("prompts", "prompts")
    prompts: dict[str, dict[str, str]] = {}
    statuses: dict[str, dict[str, str]] = {}
    for code in languages:
        texts = prompts_fields.sub(code, f"prompts.{code}")
        prompts[code] = {prompt: texts.get(prompt, str) for prompt in PROMPTS}
        names = texts.sub("statuses", f"prompts.{code}.statuses")
        statuses[code] = {status: names.get(status, str) for status in STATUS_NAMES}

    return Menu(
        name=name,
        languages=languages,
        voices=voices,
        options=options,
        keywords=keywords,
        categories=parse_categories(document, "categories"),
        prompts=prompts,
        statuses=statuses,
    )


def load_menus(directory: str | Path, lines: Lines) -> dict[str, Menu]:
    """Every menu a line names, loaded and checked at start-up."""
    menus: dict[str, Menu] = {}
    for line in lines.lines:
        if line.menu in menus:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_-]+", line.menu):
            raise ConfigFileError(
                directory, None, f"menu name '{line.menu}' is not a file name"
            )
        menus[line.menu] = load_menu(Path(directory) / f"{line.menu}.yaml", line.menu)
    return menus


def menu_for(line: Line) -> Menu:
    """The menu a line plays, as loaded at start-up by create_app()."""
    return current_app.extensions["menus"][line.menu]


def category_choices(lang: str) -> list[tuple[str, str]]:
    """Every category the centre's lines offer, as (key, label) in `lang`."""
    seen: dict[str, str] = {}
    for line in current_lines().lines:
        for key, labels in menu_for(line).categories_for(line):
            seen.setdefault(key, labels.get(lang) or next(iter(labels.values())))
    return sorted(seen.items(), key=lambda item: item[1])
