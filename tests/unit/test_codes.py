"""One agency-id rule and one council-code rule: ASCII only, wherever an id or a code arrives."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, strategies as st

from domain.agencies import AGENCY_ID_PATTERN, check_agency_id, is_agency_id
from domain.councils import COUNCIL_CODE_PATTERN, check_council_code, is_council_code
from domain.errors import InvalidPayload, MalformedRequest
from domain.records import parse_payload
from tests.conftest import concern
from tests.unicode_text import any_text

#: Every decimal digit Unicode knows (category Nd), in any script.
any_digit = st.characters(categories=("Nd",))


@given(st.text(any_digit, min_size=3, max_size=3))
def test_a_council_code_is_three_ascii_digits_and_no_other_script(code):
    ascii_only = all(char in "0123456789" for char in code)
    assert is_council_code(code) == ascii_only
    assert code.isdigit()  # what str.isdigit would wrongly have let through


@given(st.one_of(any_text, st.integers(), st.none()))
def test_council_codes_agree_with_the_schema_pattern(value):
    expected = isinstance(value, str) and re.fullmatch(r"[0-9]{3}", value, re.ASCII) is not None
    assert is_council_code(value) == expected
    if expected:
        assert re.search(COUNCIL_CODE_PATTERN, value) and check_council_code(value) == value
    else:
        with pytest.raises(InvalidPayload, match="local_authority must be a string of three digits"):
            check_council_code(value)


@pytest.mark.parametrize("code", ["\u0663\u0660\u0669", "\u0969\u0966\u096f", "\uff13\uff10\uff19", "309\n", " 309", "30", "3090", 309])
def test_lookalike_council_codes_are_refused_everywhere(code):
    with pytest.raises(MalformedRequest, match="local_authority"):
        check_council_code(code, error=MalformedRequest)
    with pytest.raises(InvalidPayload, match="local_authority must be a string of three digits"):
        parse_payload(concern(local_authority=code))


@given(st.one_of(any_text, st.from_regex(r"[a-z0-9][a-z0-9._-]{0,70}", fullmatch=True)))
def test_an_agency_id_is_a_short_lowercase_ascii_slug(value):
    expected = re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", value, re.ASCII) is not None
    assert is_agency_id(value) == expected
    assert (re.search(AGENCY_ID_PATTERN, value) is not None) == expected or value.endswith("\n")
    if not expected:
        with pytest.raises(InvalidPayload, match="agency must be"):
            check_agency_id(value, "agency")


@pytest.mark.parametrize(
    "agency", ["Northshire-Police", "northshire\u2010police", "\u212aent-police", "\u0663\u0660\u0669", "northshire-police\n", "", "-police"]
)
def test_lookalike_agency_ids_are_refused_in_payloads_and_queries(agency):
    with pytest.raises(InvalidPayload, match="agency must be"):
        parse_payload(concern(agency=agency))
    with pytest.raises(MalformedRequest, match="agency must be"):
        check_agency_id(agency, "agency", error=MalformedRequest)


def test_same_child_agencies_follow_the_rule_too():
    data = {"agency": "northshire-police", "record_id": "link-1", "type": "identity_link",
            "same_child": [{"local_id": "P-1"}, {"local_id": "H-1", "agency": "Northshire Health"}]}  # fmt: skip
    with pytest.raises(InvalidPayload, match=r"same_child\[1\].agency must be 1-64"):
        parse_payload(data)
