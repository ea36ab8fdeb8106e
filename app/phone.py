"""Phone numbers: normalised once, at the boundary, to E.164; written for people."""

import re
from functools import lru_cache

import phonenumbers

# Benin moved to ten-digit numbers in November 2024 by putting "01" in front of
# every eight-digit number; staff at a counter still type the old form.
_BENIN_CODE = 229
_OLD_BENIN_LENGTH = 8


# Every webhook of a call carries the same From, and callers call again: parsing
# is the costly part of a webhook that writes nothing else about the number.
@lru_cache(maxsize=4096)
def to_e164(raw: str | None, region: str = "BJ") -> str | None:
    """The E.164 form of `raw`, or None when it is no usable phone number.

    None covers withheld callers ("anonymous"), softphone legs ("client:alice"),
    SIP URIs, empty and too-short values: callers keep the raw value elsewhere.
    """
    text = (raw or "").strip()
    if not text or len(text) > 32 or not re.fullmatch(r"[0-9+()\-. /]+", text):
        return None
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        return None
    if number.country_code == _BENIN_CODE:
        national = phonenumbers.national_significant_number(number)
        if len(national) == _OLD_BENIN_LENGTH:
            number = phonenumbers.parse(f"+22901{national}")
    # "Possible" (right length for the country) rather than "valid": test numbers
    # and freshly allocated ranges must not lose a caller their SMS.
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def as_written(e164: str, region: str | None = None) -> str:
    """How a person writes the number: "01 21 30 00 00" in its own country.

    Numbers of another country than `region` keep their "+229 ..." prefix; a
    value that is no number comes back as it was.
    """
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    home = phonenumbers.region_code_for_number(number)
    national = region is None or home == region.upper()
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if national
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)
