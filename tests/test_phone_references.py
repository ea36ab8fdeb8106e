"""Phone numbers to E.164 and Luhn-checked ticket references."""

import itertools

import pytest

from app.phone import to_e164
from app.references import (
    InvalidReference,
    format_reference,
    luhn_digit,
    new_reference,
    parse_reference,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+2290197000000", "+2290197000000"),
        ("0197000000", "+2290197000000"),
        ("01 97 00 00 00", "+2290197000000"),
        ("97000000", "+2290197000000"),  # old eight-digit form: 01 prefix added
        ("+229 97 00 00 00", "+2290197000000"),
        ("0022997000000", "+2290197000000"),
        ("+33612345678", "+33612345678"),
        ("+15005550006", "+15005550006"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, expected):
    assert to_e164(raw, "BJ") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "anonymous",
        "client:alice",
        "sip:a@b.c",
        "12",
        "+",
        "x" * 5000,
        "\u0661\u0662\u0663",
    ],
)
def test_odd_values_are_no_number(raw):
    assert to_e164(raw, "BJ") is None


def test_region_applies_to_national_numbers():
    assert to_e164("0707070707", "CI") == "+2250707070707"


def test_luhn_digit_matches_the_classic_example():
    assert luhn_digit("7992739871") == "3"


def test_new_references_are_valid_distinct_and_not_sequential():
    references = [new_reference() for _ in range(500)]
    assert all(parse_reference(r) == r for r in references)
    assert len(set(references)) == len(references)
    gaps = {int(b) - int(a) for a, b in itertools.pairwise(references)}
    assert len(gaps) > 400


def test_reference_accepted_with_dash_or_spaces():
    reference = new_reference()
    shown = format_reference(reference)
    assert shown[4] == "-"
    assert parse_reference(shown) == reference
    assert parse_reference(f" {reference[:4]} {reference[4:]} ") == reference


@pytest.mark.parametrize("position", range(8))
def test_any_single_mistyped_digit_is_caught(position):
    reference = new_reference()
    wrong = str((int(reference[position]) + 1) % 10)
    typo = reference[:position] + wrong + reference[position + 1 :]
    with pytest.raises(InvalidReference):
        parse_reference(typo)


@pytest.mark.parametrize("text", ["", "1234567", "123456789", "abcd-efgh", "1234_5678"])
def test_malformed_references_are_refused(text):
    with pytest.raises(InvalidReference):
        parse_reference(text)
