"""The USSD screens' texts (config/ussd.yaml), checked at start-up."""

import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from pydantic import BaseModel, ConfigDict, create_model

from app.lines import LANGUAGES
from app.yamlmodel import Problem, load_model

# Every text the file must give in each language, with the {placeholders} it
# may use: a typo in a placeholder stops start-up, not a session.
TEXTS: dict[str, frozenset[str]] = {
    "main_menu": frozenset(),
    "invalid_choice": frozenset(),
    "reference_prompt": frozenset(),
    "status": frozenset({"reference", "status", "date"}),
    "reference_unknown": frozenset(),
    "category_menu": frozenset(),
    "more_categories": frozenset(),
    "first_categories": frozenset(),
    "confirm": frozenset({"category"}),
    "cancelled": frozenset(),
    "filed": frozenset({"reference"}),
    "filed_no_sms": frozenset({"reference"}),
    "web_page": frozenset({"url"}),
    "too_many": frozenset(),
    "not_understood": frozenset(),
    "technical_problem": frozenset(),
}
# A screen is at most 182 characters with its "CON "; a text alone longer than
# this leaves too little room for what is filled in (a category, a date).
MAX_TEXT = 150


@dataclass(frozen=True)
class UssdTexts:
    texts: dict[str, dict[str, str]]  # language -> text name -> text

    def get(self, lang: str, name: str, **values: str) -> str:
        return self.texts[lang][name].format(**values)


class _Languages(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fr: str
    en: str


UssdTemplates = create_model(
    "UssdTemplates",
    __config__=ConfigDict(extra="forbid"),
    **dict.fromkeys(TEXTS, (_Languages, ...)),  # type: ignore[call-overload]
)


def _placeholders(text: str) -> set[str]:
    return {
        name for _, name, _, _ in string.Formatter().parse(text) if name is not None
    }


class UssdFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: UssdTemplates  # type: ignore[valid-type]

    def problems(self) -> Iterator[Problem]:
        for name, allowed in TEXTS.items():
            for lang in LANGUAGES:
                text = getattr(getattr(self.texts, name), lang)
                where = ("texts", name, lang)
                try:
                    used = _placeholders(text)
                except ValueError as bad:
                    yield Problem(where, f"a stray brace ({bad})")
                    continue
                unknown = sorted(used - allowed)
                if unknown:
                    known = ", ".join(f"{{{n}}}" for n in sorted(allowed)) or "none"
                    yield Problem(
                        where,
                        f"{{{unknown[0]}}} is not one of its placeholders ({known})",
                    )
                if len(text) > MAX_TEXT:
                    yield Problem(
                        where, f"{len(text)} characters: at most {MAX_TEXT} fit"
                    )

    def build(self) -> UssdTexts:
        return UssdTexts(
            {
                lang: {name: getattr(getattr(self.texts, name), lang) for name in TEXTS}
                for lang in LANGUAGES
            }
        )


def load_ussd_texts(path: str | Path) -> UssdTexts:
    return load_model(path, UssdFile).build()


def ussd_texts() -> UssdTexts:
    """The texts loaded when the blueprint was registered."""
    return current_app.extensions["ussd_texts"]
