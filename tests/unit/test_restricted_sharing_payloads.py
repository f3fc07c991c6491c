"""The payload extensions of issue 14 (docs/records.md): ``restricted`` on any record, and the
``sharing_decision`` record type; the JSON Schema made from the validator agrees with it, and a
version 1 record without them means what it always meant."""

from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidPayload, LedgerError
from domain.record_schema import record_schema
from domain.records import parse_payload
from domain.sharing import check_sharing
from tests.conftest import concern

VALIDATOR = jsonschema.Draft202012Validator(record_schema())
SHARED = {"agency": "northshire-police", "record_id": "ref-9", "type": "sharing_decision",
          "subject": {"nhs_number": "9434765919"}, "occurred_at": "2026-03-02", "decision": "shared",
          "recipient": "Northshire school DSL (fictional)",
          "reason": "Fictional: to plan support at school."}  # fmt: skip
NOT_SHARED = {k: v for k, v in SHARED.items() if k != "recipient"} | {"decision": "not_shared"}


def test_a_record_without_restricted_is_not_restricted_and_one_may_say_so():
    assert parse_payload(concern()).restricted is False
    assert parse_payload(concern(restricted=True)).restricted is True
    assert VALIDATOR.is_valid(concern(restricted=True)) and VALIDATOR.is_valid(concern())


@pytest.mark.parametrize("value", ["true", 1, 0, [], {}])
def test_restricted_is_a_boolean_and_nothing_else(value):
    with pytest.raises(InvalidPayload, match="restricted"):
        parse_payload(concern(restricted=value))
    assert not VALIDATOR.is_valid(concern(restricted=value))


def test_a_sharing_decision_names_its_recipient_exactly_when_shared():
    shared, not_shared = parse_payload(SHARED), parse_payload(NOT_SHARED)
    assert (shared.decision, shared.recipient, shared.reason) == ("shared", SHARED["recipient"], SHARED["reason"])
    assert (not_shared.decision, not_shared.recipient) == ("not_shared", None)
    for bad in (NOT_SHARED | {"recipient": "someone"}, {k: v for k, v in SHARED.items() if k != "recipient"},
                SHARED | {"decision": "maybe"}, {k: v for k, v in SHARED.items() if k != "reason"},
                SHARED | {"category": "neglect"}, concern(reason="why"), concern(decision="shared"),
                SHARED | {"recipient": "line\nbreak"}, SHARED | {"reason": "nul\x00"}):  # fmt: skip
        with pytest.raises(LedgerError):
            parse_payload(bad)
        assert not VALIDATOR.is_valid(bad), bad
    assert VALIDATOR.is_valid(SHARED) and VALIDATOR.is_valid(NOT_SHARED)


_VALUES = st.one_of(st.none(), st.booleans(), st.sampled_from(["", "x", "shared", "not_shared", "neglect"]),
                    st.text(max_size=5))  # fmt: skip
_FIELDS = ["restricted", "decision", "recipient", "reason", "category", "summary", "type"]


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from([SHARED, NOT_SHARED, concern()]), drop=st.sets(st.sampled_from(_FIELDS)),
       change=st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=3))  # fmt: skip
def test_the_schema_never_refuses_a_record_the_ledger_accepts(base, drop, change):
    record = {k: v for k, v in base.items() if k not in drop} | change
    try:
        parse_payload(record)
    except LedgerError:
        return
    assert VALIDATOR.is_valid(record), list(VALIDATOR.iter_errors(record))


@pytest.mark.parametrize("decision, recipient, reason", [
    ("shared", None, "why"), ("not_shared", "someone", "why"), ("maybe", None, "why"), ("not_shared", None, " "),
    ("not_shared", None, "x" * 2001), ("not_shared", None, "bell\x07"), ("shared", "tab\there", "why"),
    ("shared", "x" * 201, "why"),
])  # fmt: skip
def test_a_practitioner_s_sharing_decision_is_checked_whole(decision, recipient, reason):
    with pytest.raises(InvalidPayload):
        check_sharing(decision, recipient, reason)
