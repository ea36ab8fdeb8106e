"""IVR menus as data (config/menus/<name>.yaml): prompts, keywords, categories."""

import re
import string
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from flask import current_app
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
)

from app.lines import (
    Categories,
    Language,
    Line,
    Lines,
    categories_of,
    current_lines,
)
from app.models.tickets import TicketStatus
from app.yamlmodel import ConfigFileError, Problem, load_model

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


def _keypad_key(key: object) -> str:
    key = str(key)
    if not re.fullmatch(r"[0-9*#]", key):
        raise ValueError(f"option key '{key}' must be one keypad key")
    return key


def _action(action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action '{action}' ({', '.join(ACTIONS)})")
    return action


def _keyword(word: object) -> object:
    word = str(word) if isinstance(word, int | float) else word
    if isinstance(word, str) and "," in word:
        raise ValueError("one keyword per list item, no commas")
    return word


KeypadKey = Annotated[str, BeforeValidator(_keypad_key)]
Action = Annotated[str, AfterValidator(_action)]
Keyword = Annotated[str, BeforeValidator(_keyword)]


class VoiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voice: str
    language: str  # BCP-47


class _PromptTextsBase(BaseModel):
    """One language's prompts; PromptTexts below adds a field per PROMPTS name."""

    model_config = ConfigDict(extra="forbid")

    # ticket status -> spoken name; STATUS_NAMES are required, others optional
    statuses: dict[TicketStatus, str]

    @field_validator(*PROMPTS, check_fields=False)
    @classmethod
    def _known_placeholders(cls, text: str, info: ValidationInfo) -> str:
        prompt, allowed = info.field_name, PROMPTS[info.field_name or ""]
        try:
            used = {
                name
                for _, name, _, _ in string.Formatter().parse(text)
                if name is not None
            }
        except ValueError as bad:
            raise ValueError(f"'{prompt}' has a stray brace ({bad})") from None
        unknown = sorted(used - allowed)
        if unknown:
            known = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "none"
            raise ValueError(
                f"'{prompt}' uses {{{unknown[0]}}}, which is not one of its "
                f"placeholders ({known})"
            )
        return text

    @field_validator("statuses")
    @classmethod
    def _every_status_named(cls, names: dict[str, str]) -> dict[str, str]:
        for status in STATUS_NAMES:
            if status not in names:
                raise ValueError(f"missing '{status}'")
        return {str(status): text for status, text in names.items()}


PromptTexts = create_model(
    "PromptTexts",
    __base__=_PromptTextsBase,
    **dict.fromkeys(PROMPTS, (str, ...)),  # type: ignore[call-overload]
)


class MenuFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    languages: list[Language] = Field(min_length=1)
    voices: dict[Language, VoiceSpec]
    options: dict[KeypadKey, Action]
    keywords: dict[Language, dict[Action, list[Keyword]]]
    categories: Categories
    prompts: dict[Language, PromptTexts]  # type: ignore[valid-type]

    def problems(self) -> Iterator[Problem]:
        """Each language the menu speaks has its voice, its keywords, its prompts."""
        for section in ("voices", "keywords", "prompts"):
            for code in self.languages:
                if code not in getattr(self, section):
                    yield Problem((section,), f"missing '{code}'")

    def build(self, name: str) -> Menu:
        keywords: dict[str, dict[str, tuple[str, ...]]] = {}
        spoken: dict[str, dict[str, tuple[str, ...]]] = {}
        for code in self.languages:
            per_action = self.keywords[code]
            keywords[code] = {
                action: tuple(normalise(word) for word in words)
                for action, words in per_action.items()
            }
            spoken[code] = {
                action: tuple(
                    " ".join(word.split()) for word in words if normalise(word)
                )
                for action, words in per_action.items()
            }
        return Menu(
            name=name,
            languages=tuple(self.languages),
            voices={
                code: Voice(spec.voice, spec.language)
                for code, spec in self.voices.items()
                if code in self.languages
            },
            options=dict(self.options),
            keywords=keywords,
            spoken=spoken,
            categories=categories_of(self.categories),
            prompts={
                code: {
                    prompt: getattr(self.prompts[code], prompt) for prompt in PROMPTS
                }
                for code in self.languages
            },
            statuses={code: self.prompts[code].statuses for code in self.languages},
        )


def load_menu(path: str | Path, name: str) -> Menu:
    return load_model(path, MenuFile).build(name)


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


def as_title(label: str) -> str:
    """A category's label standing alone (a list, a heading): the menus word
    them to follow "For ..." ("la qualité de l'accueil"), so the first letter
    goes up."""
    return label[:1].upper() + label[1:]


def category_label(labels: dict[str, str], lang: str) -> str:
    """A category's label in `lang`, else in the first language its menu has."""
    return labels.get(lang) or next(iter(labels.values()))


def category_choices(lang: str) -> list[tuple[str, str]]:
    """Every category the centre's lines offer, as (key, label) in `lang`: the
    labels as a list or a page shows them, standing alone (as_title)."""
    seen: dict[str, str] = {}
    for line in current_lines().lines:
        for key, labels in menu_for(line).categories_for(line):
            seen.setdefault(key, as_title(category_label(labels, lang)))
    return sorted(seen.items(), key=lambda item: item[1])
