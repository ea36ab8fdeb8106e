"""Staff notices' texts (config/notices.yaml): per event and language, an SMS
and an e-mail, checked at start-up like the other configuration files."""

import string
from collections.abc import Iterator
from pathlib import Path

from flask import current_app
from pydantic import BaseModel, ConfigDict

from app.yamlmodel import Problem, load_model

EVENTS = ("focal_link", "reminder", "escalation_service", "escalation_centre")
LANGUAGES = ("fr", "en")
WORDS = ("take_charge", "resolve", "no_service", "no_category")
FIELDS = {"reference", "category", "service", "deadline", "due", "name", "link"}


class Notice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sms: str
    subject: str
    body: str


class NoticesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    templates: dict[str, dict[str, Notice]]
    words: dict[str, dict[str, str]]

    def problems(self) -> Iterator[Problem]:
        for event in EVENTS:
            for lang in LANGUAGES:
                if lang not in self.templates.get(event, {}):
                    yield Problem(("templates",), f"'{event}' needs a '{lang}' text")
        for event, languages in self.templates.items():
            if event not in EVENTS:
                yield Problem(("templates", event), f"unknown event '{event}'")
            for lang, notice in languages.items():
                for part in ("sms", "subject", "body"):
                    unknown = _fields(getattr(notice, part)) - FIELDS
                    if unknown:
                        yield Problem(
                            ("templates", event, lang, part),
                            f"unknown field {{{sorted(unknown)[0]}}}",
                        )
        for lang in LANGUAGES:
            missing = set(WORDS) - set(self.words.get(lang, {}))
            if missing:
                yield Problem(("words",), f"'{lang}' lacks '{sorted(missing)[0]}'")

    def notice(self, event: str, lang: str) -> Notice:
        languages = self.templates[event]
        return languages.get(lang) or languages[LANGUAGES[0]]

    def word(self, name: str, lang: str) -> str:
        return self.words.get(lang, self.words[LANGUAGES[0]])[name]


def _fields(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return {"(unbalanced braces)"}


def load_notice_texts(path: str | Path) -> NoticesFile:
    return load_model(path, NoticesFile)


def notice_texts() -> NoticesFile:
    return current_app.extensions["notice_texts"]
