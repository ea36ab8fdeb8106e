"""Ticket references: seven random digits and a Luhn check digit (CONTRACT §4)."""

import re
import secrets


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits`."""
    total = 0
    # Walk from the right; the digit next to the check digit is doubled.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_reference() -> str:
    # Random, not sequential: a reference must not reveal or guess another one.
    body = f"{secrets.randbelow(9_000_000) + 1_000_000}"
    return body + luhn_digit(body)


class InvalidReference(ValueError):
    pass


def parse_reference(text: str) -> str:
    """The eight digits of a reference typed as 12345678, 1234-5678 or 1234 5678.

    Raises InvalidReference when it is not eight digits or its check digit is wrong.
    """
    compact = re.sub(r"[\s\-]", "", text or "")
    if not re.fullmatch(r"[0-9]{8}", compact):
        raise InvalidReference("a reference is eight digits, such as 1234-5678")
    if luhn_digit(compact[:7]) != compact[7]:
        raise InvalidReference("this reference has a typing mistake (check digit)")
    return compact


def format_reference(reference: str) -> str:
    return f"{reference[:4]}-{reference[4:]}"
