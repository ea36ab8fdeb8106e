"""E-mail follow-ups: subject and body per event and language (config/emails.yaml)."""

import string
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from pydantic import BaseModel, ConfigDict, create_model, field_validator

from app.lines import LANGUAGES
from app.sms_text import FOLLOW_UPS
from app.yamlmodel import load_model

# The events of config/sms.yaml that reach the ticket's citizen (followups.notify).
TEMPLATES = FOLLOW_UPS
PLACEHOLDERS = frozenset({"reference", "status", "note", "line"})
SUBJECT_MAX = 200  # messages.subject


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


@dataclass(frozen=True)
class EmailTexts:
    templates: dict[str, dict[str, dict[str, str]]]  # template -> lang -> parts

    def render(self, template: str, lang: str, **values: str) -> Email:
        lang = lang if lang in LANGUAGES else LANGUAGES[0]
        parts = self.templates[template][lang]
        subject = " ".join(parts["subject"].format(**values).split())
        return Email(subject[:SUBJECT_MAX], parts["body"].format(**values).strip())


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class _Email(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str
    body: str

    @field_validator("subject", "body")
    @classmethod
    def _known_placeholders(cls, text: str) -> str:
        try:
            unknown = _placeholders(text) - PLACEHOLDERS
        except ValueError as bad:
            raise ValueError(f"malformed placeholder: {bad}") from None
        if unknown:
            known = ", ".join(f"{{{name}}}" for name in sorted(PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{min(unknown)}}} (known: {known})")
        return text

    @field_validator("subject")
    @classmethod
    def _subject_carries_the_reference(cls, subject: str) -> str:
        # A reply keeps the subject: without the reference it files a new request.
        if "reference" not in _placeholders(subject):
            raise ValueError("the subject must carry {reference}, so replies thread")
        if "\n" in subject.strip():
            raise ValueError("a subject is one line")
        return subject


class _Languages(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fr: _Email
    en: _Email


EmailTemplates = create_model(
    "EmailTemplates",
    __config__=ConfigDict(extra="forbid"),
    **dict.fromkeys(TEMPLATES, (_Languages, ...)),  # type: ignore[call-overload]
)


class EmailFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    templates: EmailTemplates  # type: ignore[valid-type]

    def build(self) -> EmailTexts:
        return EmailTexts(
            templates={
                name: getattr(self.templates, name).model_dump() for name in TEMPLATES
            }
        )


def load_email_texts(path: str | Path) -> EmailTexts:
    return load_model(path, EmailFile).build()


def email_texts() -> EmailTexts:
    return current_app.extensions["email_texts"]
