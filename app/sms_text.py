"""SMS texts: templates from config/sms.yaml, GSM-7 transliteration, segment counts."""

import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from pydantic import BaseModel, ConfigDict, create_model, field_validator

from app.lines import LANGUAGES
from app.models.tickets import TicketStatus
from app.phone import as_written
from app.yamlmodel import load_model

log = logging.getLogger(__name__)

# What followups.notify() sends the ticket's citizen: by text, or by e-mail to
# one who wrote with no number (app/email_text.py has these, and only these).
FOLLOW_UPS = (
    "acknowledgment",
    "assigned",
    "status_changed",
    "resolved",
    "public_note",
    "satisfaction",
)
# Then the answers to a citizen's own text, which have no e-mail twin.
TEMPLATES = (
    *FOLLOW_UPS,
    "status_reply",
    "new_ticket",
    "rating_thanks",
    "opted_out",
    "opted_in",
)
E164 = re.compile(r"\+[1-9]\d{6,14}")
STATUSES = tuple(status.value for status in TicketStatus)

# The GSM 03.38 alphabet: é, è, à, ù are in it; ê, ç, â, ô, î, û are not.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")  # two characters each
# What NFKD cannot take apart (escaped: typographic quotes and dashes).
SPECIAL = {
    "\u0153": "oe",  # oe ligature
    "\u0152": "OE",
    "\u2019": "'",  # curly apostrophes
    "\u2018": "'",
    "\u00ab": '"',  # guillemets
    "\u00bb": '"',
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",  # en and em dashes
    "\u2014": "-",
    "\u2026": "...",
    "\u00b0": "o",  # n° -> no
    "\u00a0": " ",  # no-break space
}


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def to_gsm7(text: str) -> str:
    """Replace what GSM-7 lacks (ê → e, ç → c, œ → oe); keep what it has (é, à)."""
    out = []
    for char in text:
        if char in GSM7_BASIC or char in GSM7_EXTENDED:
            out.append(char)
            continue
        char = SPECIAL.get(char, char)
        bare = "".join(
            c
            for c in unicodedata.normalize("NFKD", char)
            if not unicodedata.combining(c)
        )
        out.append("".join(c if c in GSM7_BASIC else "?" for c in bare) or "?")
    return "".join(out)


def segments(text: str) -> tuple[str, int]:
    """(encoding, number of SMS segments) as a phone network counts them."""
    if is_gsm7(text):
        length = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return "GSM-7", 1 if length <= 160 else math.ceil(length / 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else math.ceil(units / 67)


@dataclass(frozen=True)
class SmsTexts:
    templates: dict[str, dict[str, str]]  # template -> language -> text
    statuses: dict[str, dict[str, str]]  # language -> status -> words

    def render(
        self,
        template: str,
        lang: str,
        accents: bool = False,
        region: str | None = None,
        **values: str,
    ) -> str:
        """The text, with every phone number in it written as callers know it.

        Numbers are stored in E.164; a caller reads "01 21 30 00 00", not
        "+2290121300000" (in `region`, the line's country: others keep "+").
        """
        lang = lang if lang in LANGUAGES else LANGUAGES[0]
        values = {
            name: as_written(value, region) if E164.fullmatch(value) else value
            for name, value in values.items()
        }
        text = " ".join(self.templates[template][lang].format(**values).split())
        if not accents:
            text = to_gsm7(text)
        encoding, count = segments(text)
        if count > 1:
            log.warning(
                "SMS '%s' (%s) needs %d %s segments: shorten it in config/sms.yaml",
                template,
                lang,
                count,
                encoding,
            )
        return text

    def status(self, lang: str, status: str) -> str:
        return self.statuses.get(lang, self.statuses[LANGUAGES[0]]).get(status, status)


class _TemplateTexts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fr: str
    en: str


class _StatusWords(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fr: dict[TicketStatus, str]
    en: dict[TicketStatus, str]

    @field_validator("fr", "en")
    @classmethod
    def _every_status(cls, words: dict[str, str]) -> dict[str, str]:
        for status in STATUSES:
            if status not in words:
                raise ValueError(f"missing '{status}'")
        return {str(status): text for status, text in words.items()}


# Every template, each in both languages.
SmsTemplates = create_model(
    "SmsTemplates",
    __config__=ConfigDict(extra="forbid"),
    **dict.fromkeys(TEMPLATES, (_TemplateTexts, ...)),  # type: ignore[call-overload]
)


class SmsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    templates: SmsTemplates  # type: ignore[valid-type]
    statuses: _StatusWords

    def build(self) -> SmsTexts:
        return SmsTexts(
            templates={
                name: getattr(self.templates, name).model_dump() for name in TEMPLATES
            },
            statuses={lang: getattr(self.statuses, lang) for lang in LANGUAGES},
        )


def load_sms_texts(path: str | Path) -> SmsTexts:
    return load_model(path, SmsFile).build()


def sms_texts() -> SmsTexts:
    return current_app.extensions["sms_texts"]
