"""IVR menus as data (config/menus/<name>.yaml): prompts, keywords, categories."""

import re
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from app.lines import Line, Lines, current_lines, parse_categories
from app.yamlfile import ConfigFileError, Fields, load_yaml

# What a menu option can do; the digits that lead to them are the menu file's.
ACTIONS = ("complaint", "follow_up", "information", "agent", "other_language", "repeat")

# Every prompt a menu file must give in each of its languages, with the
# {placeholders} it may use: a typo in a placeholder stops start-up, not a call.
PROMPTS: dict[str, frozenset[str]] = {
    "welcome": frozenset({"line"}),
    "main_menu": frozenset(),
    # "For English, press 9", said in English by the English voice.
    "other_language": frozenset(),
    "no_input": frozenset(),
    "invalid_choice": frozenset(),
    "not_understood": frozenset(),
    "category_menu": frozenset(),
    "category_option": frozenset({"label", "digit"}),
    "category_repeat": frozenset(),
    "recording_notice": frozenset(),
    "agent_recording_notice": frozenset(),
    "record_instructions": frozenset(),
    "no_message": frozenset(),
    "reference_intro": frozenset(),
    "reference_sms": frozenset(),
    "goodbye": frozenset(),
    "follow_up_prompt": frozenset(),
    "follow_up_help": frozenset(),
    "reference_invalid": frozenset(),
    "reference_unknown": frozenset(),
    "status_report": frozenset({"reference", "status", "date"}),
    # Option 3: the line's own hours when it has some, else the centre's.
    "centre_hours": frozenset(),
    "information": frozenset(),
    "closed": frozenset(),
    "holiday": frozenset(),
    "opening_hours": frozenset({"hours"}),
    "closed_menu": frozenset(),
    "agent_unavailable": frozenset(),
    "technical_problem": frozenset(),
    "please_hold": frozenset(),
    "queue_position": frozenset({"position"}),
    "queue_options": frozenset(),
}
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
    # language -> action -> the keywords as written, accents kept: speech hints
    spoken: dict[str, dict[str, tuple[str, ...]]]
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
        # But "information" is the vaguest wish, often just how a sentence starts:
        # "un renseignement sur mon dossier" is a follow-up.
        found = [
            (action == "information", position, action)
            for action, position in self._said(lang, words)
        ]
        return min(found)[2] if found else None

    def hints_for(self, lang: str, *actions: str) -> tuple[str, ...]:
        """Speech hints for `actions` (all by default), each word once."""
        hints: dict[str, str] = {}
        for action, words in self.spoken.get(lang, {}).items():
            if not actions or action in actions:
                for word in words:
                    # "réclamation", "reclamation": one hint, the first spelling.
                    hints.setdefault(normalise(word), word)
        return tuple(hints.values())

    def said(self, lang: str, action: str, speech: str) -> bool:
        """Whether one of `action`'s keywords is in what the caller said."""
        words = normalise(speech).split()
        return any(found == action for found, _ in self._said(lang, words))

    def _said(self, lang: str, words: list[str]) -> list[tuple[str, int]]:
        found = []
        for action, keywords in self.keywords.get(lang, {}).items():
            for keyword in keywords:
                position = _find_words(words, keyword.split())
                if position is not None:
                    found.append((action, position))
        return found


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
    spoken: dict[str, dict[str, tuple[str, ...]]] = {}
    for code in languages:
        per_action = keywords_fields.sub(code, f"keywords.{code}")
        keywords[code] = {}
        spoken[code] = {}
        for action, words in per_action.mapping.items():
            if action not in ACTIONS or not isinstance(words, list):
                raise per_action.error(
                    action, f"'{action}' must be an action with a word list"
                )
            if any("," in str(word) for word in words):
                raise per_action.error(action, "one keyword per list item, no commas")
            keywords[code][action] = tuple(normalise(str(word)) for word in words)
            spoken[code][action] = tuple(
                " ".join(str(word).split()) for word in words if normalise(str(word))
            )

    prompts_fields = document.sub("prompts", "prompts")
    prompts: dict[str, dict[str, str]] = {}
    statuses: dict[str, dict[str, str]] = {}
    for code in languages:
        texts = prompts_fields.sub(code, f"prompts.{code}")
        prompts[code] = {prompt: texts.get(prompt, str) for prompt in PROMPTS}
        for prompt, allowed in PROMPTS.items():
            _check_placeholders(texts, prompt, prompts[code][prompt], allowed)
        names = texts.sub("statuses", f"prompts.{code}.statuses")
        statuses[code] = {status: names.get(status, str) for status in STATUS_NAMES}

    return Menu(
        name=name,
        languages=languages,
        voices=voices,
        options=options,
        keywords=keywords,
        spoken=spoken,
        categories=parse_categories(document, "categories"),
        prompts=prompts,
        statuses=statuses,
    )


def _check_placeholders(
    texts: Fields, prompt: str, text: str, allowed: frozenset[str]
) -> None:
    try:
        used = {
            name for _, name, _, _ in string.Formatter().parse(text) if name is not None
        }
    except ValueError as bad:
        raise texts.error(prompt, f"'{prompt}' has a stray brace ({bad})") from None
    unknown = sorted(used - allowed)
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "none"
        raise texts.error(
            prompt,
            f"'{prompt}' uses {{{unknown[0]}}}, which is not one of its "
            f"placeholders ({known})",
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
