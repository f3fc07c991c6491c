"""The record payload's JSON Schema (domain/record_schema.py, GET /v1/schema/record.v1.json): a valid
draft 2020-12 schema, served without a token, that accepts good records and refuses bad ones, and
never refuses a record the ledger's own validator accepts."""

from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import LedgerError
from domain.record_schema import SCHEMA_ID, record_schema
from domain.records import CATEGORIES, FIELDS, RECORD_TYPES, parse_payload
from tests.api_live import live  # noqa: F401 - the fixture
from tests.conftest import concern

VALIDATOR = jsonschema.Draft202012Validator(record_schema())

GOOD = {
    "concern": concern(),
    "amendment": concern("ref-2", type="amendment", amends="ref-1", action_taken="Fictional: home visit."),
    "retraction": {"agency": "northshire-police", "record_id": "ref-3", "type": "retraction", "amends": "ref-1",
                   "summary": "Fictional: entered against the wrong child."},
    "identity_link": {"agency": "northshire-police", "record_id": "ref-4", "type": "identity_link",
                      "same_child": [{"nhs_number": "9434765919"}, {"local_id": "NP-77", "agency": "northshire-school"}]},
}  # fmt: skip

BAD = {
    "an unknown field": concern(mood="sad"),
    "a field set to null": concern(action_taken=None) | {"action_taken": None},
    "an unknown type": concern(type="note"),
    "an unknown category": concern(category="bruise"),
    "a concern without its summary": concern(summary=None),
    "a concern that amends": concern(amends="ref-0"),
    "a retraction naming nothing": {k: v for k, v in GOOD["retraction"].items() if k != "amends"},
    "a link of one child": GOOD["identity_link"] | {"same_child": [{"nhs_number": "9434765919"}]},
    "a subject with no strong identifier": concern(subject={"given_name": "Ada"}),
    "an NHS number of nine digits": concern(subject={"nhs_number": "943476591"}),
    "a council code of letters": concern(local_authority="abc"),
    "an occurred_at without offset": concern(occurred_at="2026-03-01T09:30:00"),
    "a summary with a NUL": concern(summary="Fictional\x00"),
    "an empty author": concern(author={}),
}


def test_the_schema_is_a_valid_json_schema_made_from_the_validator_s_lists():
    schema = record_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == FIELDS
    assert schema["properties"]["type"]["enum"] == list(RECORD_TYPES)
    assert schema["properties"]["category"]["enum"] == list(CATEGORIES)
    assert "$ref" not in str(schema)  # embeddable as it is


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_a_good_record_of_each_type_is_accepted_by_schema_and_ledger(kind):
    assert list(VALIDATOR.iter_errors(GOOD[kind])) == []
    parse_payload(GOOD[kind])


@pytest.mark.parametrize("why", sorted(BAD))
def test_a_bad_record_is_refused_by_schema_and_ledger(why):
    assert not VALIDATOR.is_valid(BAD[why]), why
    with pytest.raises(LedgerError):
        parse_payload(BAD[why])


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "x", "309", "neglect", "2026-03-01"]),
    st.text(max_size=5), st.lists(st.sampled_from([{"nhs_number": "9434765919"}, {"upn": "x"}, 1]), max_size=3),
    st.dictionaries(st.sampled_from(["nhs_number", "local_id", "role", "name", "zzz"]), st.sampled_from(["1", "a"]),
                    max_size=2),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(sorted(GOOD)),
    drop=st.sets(st.sampled_from(sorted(FIELDS))),
    change=st.dictionaries(st.sampled_from(sorted(FIELDS | {"extra"})), _VALUES, max_size=2),
)
def test_the_schema_never_refuses_what_the_ledger_accepts(kind, drop, change):
    record = {k: v for k, v in GOOD[kind].items() if k not in drop} | change
    try:
        parse_payload(record)
    except LedgerError:
        return  # refused by the ledger: the schema may refuse it too, or leave it to the ledger
    assert VALIDATOR.is_valid(record), list(VALIDATOR.iter_errors(record))


def test_the_schema_is_served_to_anyone_and_linked_from_the_openapi_document(live):
    with live.client() as anonymous, live.client("sgl_not-a-token") as bogus:
        answer, again = anonymous.get("/v1/schema/record.v1.json"), bogus.get("/v1/schema/record.v1.json")
        document = anonymous.get("/v1/openapi.json").json()
    assert answer.status_code == again.status_code == 200
    assert answer.headers["content-type"] == "application/schema+json"
    served = answer.json()
    assert served == record_schema() and served["$id"] == SCHEMA_ID
    jsonschema.Draft202012Validator.check_schema(served)
    served_validator = jsonschema.Draft202012Validator(served)
    assert served_validator.is_valid(GOOD["concern"]) and not served_validator.is_valid(BAD["an unknown category"])
    operation = document["paths"]["/v1/records"]["post"]
    payload = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["payload"]
    assert payload["contentSchema"]["properties"] == served["properties"]
    assert operation["externalDocs"]["url"] == "/v1/schema/record.v1.json"
