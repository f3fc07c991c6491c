"""Child identifiers (SPEC section 2): NHS number and UPN checked by python-stdnum, identifier objects.

The NHS number and UPN examples come from ../shared/testdata/identifiers.json, read at test time.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, strategies as st
from stdnum.gb import nhs

from domain.errors import InvalidPayload
from domain.identifiers import (
    ChildIdentifiers,
    check_date,
    check_nhs_number,
    check_upn,
    parse_identifiers,
)
from tests.conftest import SHARED_TESTDATA

EXAMPLES = json.loads((SHARED_TESTDATA / "identifiers.json").read_text())
CHECKERS = {"nhs_number": check_nhs_number, "upn": check_upn}


def _cases(validity: str) -> list:
    cases = []
    for kind, examples in EXAMPLES.items():
        for example in examples[validity]:
            value, why = (example, "valid") if validity == "valid" else example
            cases.append(pytest.param(kind, value, id=f"{kind}-{value}-{why}"))
    return cases


def test_the_shared_examples_cover_both_identifiers_both_ways():
    assert set(EXAMPLES) == {"nhs_number", "upn"}
    assert all(EXAMPLES[k]["valid"] and EXAMPLES[k]["invalid"] for k in EXAMPLES)


@pytest.mark.parametrize(("kind", "value"), _cases("valid"))
def test_valid_examples_are_accepted_unchanged(kind, value):
    assert CHECKERS[kind](value) == value
    assert getattr(parse_identifiers({kind: value}, "subject", "northshire-police"), kind) == value


@pytest.mark.parametrize(("kind", "value"), _cases("invalid"))
def test_invalid_examples_are_refused(kind, value):
    with pytest.raises(InvalidPayload, match=kind):
        CHECKERS[kind](value)
    with pytest.raises(InvalidPayload, match=f"subject.{kind}|{kind}"):
        parse_identifiers({kind: value}, "subject", "northshire-police")


@pytest.mark.parametrize(
    "value",
    [
        "943 476 5919",  # a valid number written with spaces: the exact written form is required
        "943-476-5919",
        " 9434765919",
        "\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669",  # Arabic-Indic digits
        9434765919,  # a JSON number, not a string
        None,
    ],
)
def test_nhs_number_must_be_ten_ascii_digits_as_written(value):
    with pytest.raises(InvalidPayload, match="nhs_number"):
        check_nhs_number(value)


@pytest.mark.parametrize("value", ["b801200005001", "B 801200005001", "B8012000050011", 801200005001])
def test_upn_must_be_thirteen_characters_as_written(value):
    with pytest.raises(InvalidPayload, match="upn"):
        check_upn(value)


@given(st.from_regex(r"[0-9]{9}", fullmatch=True))
def test_nhs_numbers_agree_with_stdnum_for_every_check_digit(stem):
    """For any nine-digit stem, exactly the numbers stdnum accepts are accepted."""
    for digit in "0123456789":
        number = stem + digit
        if nhs.is_valid(number):
            assert check_nhs_number(number) == number
        else:
            with pytest.raises(InvalidPayload, match="Modulus 11"):
                check_nhs_number(number)


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "26-03-01", "2026-3-1", "2026-03-01T00:00:00Z", 20260301])
def test_dates_must_be_real_and_written_yyyy_mm_dd(value):
    with pytest.raises(InvalidPayload, match="date_of_birth"):
        check_date(value, "date_of_birth")


def test_a_full_identifier_object_is_parsed_and_its_local_id_scoped_to_the_agency():
    parsed = parse_identifiers(
        {
            "nhs_number": "9434765919",
            "upn": "B801200005001",
            "local_id": "NP-PERSON-0042",
            "given_name": "Ada",
            "family_name": "Example",
            "date_of_birth": "2024-05-01",
            "postcode": "ZZ99 3ZZ",
            "aliases": ["Addy Example"],
        },
        "subject",
        "northshire-police",
    )
    assert parsed == ChildIdentifiers(
        nhs_number="9434765919",
        upn="B801200005001",
        local_id="NP-PERSON-0042",
        agency="northshire-police",
        given_name="Ada",
        family_name="Example",
        date_of_birth=date(2024, 5, 1),
        postcode="ZZ99 3ZZ",
        aliases=("Addy Example",),
    )
    assert parsed.strong_keys() == ["nhs:9434765919", "upn:B801200005001", "local:northshire-police:NP-PERSON-0042"]


def test_agency_names_whose_local_id_it_is_only_where_allowed():
    item = {"local_id": "H-77", "agency": "northshire-health"}
    assert parse_identifiers(item, "same_child[0]", "northshire-police", allow_agency=True).strong_keys() == [
        "local:northshire-health:H-77"
    ]
    with pytest.raises(InvalidPayload, match="subject has unknown fields: agency"):
        parse_identifiers(item, "subject", "northshire-police")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("9434765919", "subject must be an object"),
        ({}, "at least one of nhs_number, upn, local_id"),
        ({"given_name": "Ada", "date_of_birth": "2024-05-01"}, "at least one of"),
        ({"nhs_number": "9434765919", "nhs": "x"}, "unknown fields: nhs"),
        ({"nhs_number": None, "local_id": "L1"}, "subject.nhs_number must not be null"),
        ({"local_id": ""}, "subject.local_id must be 1-128"),
        ({"local_id": "x" * 129}, "subject.local_id must be 1-128"),
        ({"local_id": "L\n1"}, "subject.local_id must be printable"),
        ({"local_id": "L1", "given_name": "A" * 201}, "subject.given_name must be 1-200"),
        ({"local_id": "L1", "given_name": 7}, "subject.given_name must be a string"),
        ({"local_id": "L1", "postcode": "ZZ99 3ZZ ZZZZ"}, "subject.postcode must be 1-10"),
        ({"local_id": "L1", "aliases": "Addy"}, "aliases must be a list"),
        ({"local_id": "L1", "aliases": ["a"] * 21}, "aliases must be a list of at most 20"),
        ({"local_id": "L1", "aliases": [""]}, r"subject.aliases\[\] must be 1-200"),
        ({"local_id": "L1", "date_of_birth": "01/05/2024"}, "subject.date_of_birth must be a date"),
    ],
)
def test_bad_identifier_objects_are_refused_naming_the_field(data, words):
    with pytest.raises(InvalidPayload, match=words):
        parse_identifiers(data, "subject", "northshire-police")


KNOWN = {"nhs_number", "upn", "local_id", "given_name", "family_name", "date_of_birth", "postcode", "aliases"}


@given(st.dictionaries(st.text(max_size=12).filter(lambda k: k not in KNOWN), st.text(max_size=5), min_size=1, max_size=4))
def test_any_unknown_field_in_an_identifier_object_is_refused(extra):
    with pytest.raises(InvalidPayload, match="unknown fields"):
        parse_identifiers({"local_id": "L1", **extra}, "subject", "northshire-police")
