"""The record payload, version 1 (SPEC section 2): pure schema rules, no storage."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st
from stdnum.gb import nhs, upn

from domain.errors import InvalidPayload, MalformedRequest
from domain.records import (
    CATEGORIES,
    FIELDS,
    Record,
    parse_occurred_at,
    parse_payload,
    peek_agency,
    record_aggregate_id,
)
from tests.conftest import concern

AGENCY = "northshire-police"

# Strategies -------------------------------------------------------------------------------------

printable = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S"), include_characters=" "), min_size=1, max_size=40)
# Free text may hold any assigned character but controls (tab, line feed, carriage return excepted).
free_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn"), include_characters="\t\n\r"), min_size=1, max_size=300
)


def _with_check_digit(stem: str) -> str | None:
    valid = [stem + d for d in "0123456789" if nhs.is_valid(stem + d)]
    return valid[0] if valid else None


nhs_numbers = st.from_regex(r"[0-9]{9}", fullmatch=True).map(_with_check_digit).filter(bool)
upns = st.sampled_from(["B801200005001", "P207000016049"])


@st.composite
def identifier_objects(draw, allow_agency: bool = False) -> dict:
    strong = draw(st.sets(st.sampled_from(["nhs_number", "upn", "local_id"]), min_size=1))
    data: dict = {}
    if "nhs_number" in strong:
        data["nhs_number"] = draw(nhs_numbers)
    if "upn" in strong:
        data["upn"] = draw(upns)
    if "local_id" in strong:
        data["local_id"] = draw(printable)
        if allow_agency and draw(st.booleans()):
            data["agency"] = "northshire-health"
    optional = {
        "given_name": printable,
        "family_name": printable,
        "date_of_birth": st.dates(datetime(2005, 1, 1).date(), datetime(2026, 12, 31).date()).map(str),
        "postcode": st.sampled_from(["ZZ99 3ZZ", "ZZ1 1ZZ"]),
        "aliases": st.lists(printable, max_size=3),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return data


occurred_ats = st.one_of(
    st.dates().map(str),
    st.builds(
        lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
        st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)),
        st.integers(-23 * 60, 23 * 60),
    ),
)


@st.composite
def payloads(draw) -> dict:
    """Any payload the version 1 schema accepts."""
    kind = draw(st.sampled_from(["concern", "amendment", "retraction", "identity_link"]))
    data = {"agency": AGENCY, "record_id": draw(printable), "type": kind}
    if kind in ("concern", "amendment"):
        data |= {
            "subject": draw(identifier_objects()),
            "occurred_at": draw(occurred_ats),
            "category": draw(st.sampled_from(CATEGORIES)),
            "summary": draw(free_text),
        }
    if kind in ("amendment", "retraction"):
        data["amends"] = draw(printable.filter(lambda r: r != data["record_id"]))
    if kind == "retraction":
        data["summary"] = draw(free_text)
    if kind == "identity_link":
        data["same_child"] = draw(st.lists(identifier_objects(allow_agency=True), min_size=2, max_size=4))
    optional = {
        "action_taken": free_text,
        "author": st.fixed_dictionaries({}, optional={"role": printable, "name": printable}).filter(bool),
        "local_authority": st.from_regex(r"[0-9]{3}", fullmatch=True),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return data


# Properties -------------------------------------------------------------------------------------


@given(payloads())
def test_any_valid_payload_is_accepted_with_its_values(data):
    parsed = parse_payload(data)
    assert (parsed.agency, parsed.record_id, parsed.type) == (data["agency"], data["record_id"], data["type"])
    assert parsed.summary == data.get("summary")
    assert parsed.amends == data.get("amends")
    assert parsed.local_authority == data.get("local_authority")
    assert len(parsed.same_child) == len(data.get("same_child", ()))
    if "subject" in data:
        assert parsed.subject.nhs_number == data["subject"].get("nhs_number")


@given(payloads())
def test_a_payload_survives_the_json_round_trip(data):
    raw = json.dumps(data).encode()
    decoded, agency = peek_agency(raw)
    assert agency == AGENCY
    assert parse_payload(decoded) == parse_payload(data)


@given(payloads(), st.text(min_size=1, max_size=20).filter(lambda name: name not in FIELDS), st.integers() | st.text())
def test_any_unknown_field_is_refused(data, name, value):
    """Refused, and named back only when the name is short and printable: a message never carries
    a control character."""
    with pytest.raises(InvalidPayload, match="unknown fields") as refusal:
        parse_payload({**data, name: value})
    if name.isprintable() and len(name) <= 40:
        assert name in str(refusal.value)
    else:
        assert name not in str(refusal.value) and str(refusal.value).isprintable()


@given(payloads(), st.data())
def test_any_field_given_as_null_is_refused(data, choose):
    name = choose.draw(st.sampled_from(sorted(data)))
    with pytest.raises(InvalidPayload, match=f"{name} must not be null"):
        parse_payload({**data, name: None})


REQUIRED = {
    "concern": ["agency", "record_id", "type", "subject", "occurred_at", "category", "summary"],
    "amendment": ["agency", "record_id", "type", "subject", "occurred_at", "category", "summary", "amends"],
    "retraction": ["agency", "record_id", "type", "summary", "amends"],
    "identity_link": ["agency", "record_id", "type", "same_child"],
}


@given(payloads(), st.data())
def test_any_required_field_left_out_is_refused(data, choose):
    name = choose.draw(st.sampled_from(REQUIRED[data["type"]]))
    del data[name]
    with pytest.raises(InvalidPayload):
        parse_payload(data)


@given(st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
def test_any_rfc3339_date_time_keeps_its_instant(moment, minutes):
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    parsed = parse_occurred_at(aware.isoformat())
    assert parsed.instant == aware and parsed.instant.tzinfo == timezone.utc and not parsed.date_only


# Examples ---------------------------------------------------------------------------------------


def test_the_fixture_concern_is_valid_and_fully_parsed():
    parsed = parse_payload(concern())
    assert parsed.subject.nhs_number == "9434765919"
    assert parsed.category == "neglect" and parsed.local_authority == "309"
    assert parsed.occurred_at.instant == datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "instant", "date_only"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=timezone.utc), True),
        ("2026-03-01T09:30:00Z", datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc), False),
        ("2026-03-01t09:30:00z", datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc), False),
        ("2026-03-01 09:30:00+01:00", datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc), False),
        ("2026-03-01T09:30:00.123456789-05:30", datetime(2026, 3, 1, 15, 0, 0, 123456, tzinfo=timezone.utc), False),
    ],
)
def test_occurred_at_keeps_its_text_and_precision(text, instant, date_only):
    parsed = parse_occurred_at(text)
    assert (parsed.text, parsed.instant, parsed.date_only) == (text, instant, date_only)


@pytest.mark.parametrize(
    "value",
    ["2026-03-01T09:30:00", "2026-03-01T09:30Z", "2026-02-30T09:30:00Z", "2026-03-01T25:00:00Z", "01/03/2026",
     "2026-03-01T09:30:00+0100", "\u0662\u0660\u0662\u0666-03-01", 1772357400, ""],
)  # fmt: skip
def test_occurred_at_without_offset_or_not_real_is_refused(value):
    with pytest.raises(InvalidPayload, match="occurred_at"):
        parse_occurred_at(value)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"agency": None}, "agency"),
        ({"agency": 7}, "agency must be a string"),
        ({"record_id": ""}, "record_id must be 1-128"),
        ({"record_id": "r" * 129}, "record_id must be 1-128"),
        ({"record_id": "ref\t1"}, "record_id must be printable"),
        ({"type": "note"}, "type must be one of"),
        ({"type": ["concern"]}, "type must be one of"),
        ({"subject": None}, "a concern needs subject"),
        ({"subject": {"given_name": "Ada"}}, "at least one of"),
        ({"subject": {"nhs_number": "9434765918"}}, "Modulus 11"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"category": "bruise"}, "category must be one of"),
        ({"category": ["neglect"]}, "category must be one of"),
        ({"summary": ""}, "summary must be 1-4000"),
        ({"summary": "s" * 4001}, "summary must be 1-4000"),
        ({"action_taken": 3}, "action_taken must be a string"),
        ({"author": "PC 123"}, "author must be an object"),
        ({"author": {}}, "author must be an object"),
        ({"author": {"role": "officer", "rank": "PC"}}, "author must be an object"),
        ({"author": {"role": None}}, "author.role must not be null"),
        ({"author": {"name": ""}}, "author.name must be 1-200"),
        ({"local_authority": 309}, "local_authority must be a string of three digits"),
        ({"local_authority": "30"}, "local_authority"),
        ({"local_authority": "\u0663\u0660\u0669"}, "local_authority"),
        ({"amends": "ref-0"}, "a concern may not have amends"),
        ({"same_child": [{"local_id": "a"}, {"local_id": "b"}]}, "a concern may not have same_child"),
        ({"subject": {"nhs_number": "9434765919"}, "extra": 1}, "unknown fields: extra"),
    ],
)
def test_each_invalid_concern_field_is_refused_by_name(changes, words):
    data = concern(**{k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        data.pop(key, None)
    with pytest.raises(InvalidPayload, match=words):
        parse_payload(data)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"type": "amendment", "amends": "ref-1", "summary": "s"}, "an amendment needs subject, occurred_at, category"),
        ({"type": "retraction", "summary": "entered in error"}, "a retraction needs amends"),
        ({"type": "retraction", "amends": "ref-1"}, "a retraction needs summary"),
        ({"type": "retraction", "amends": "ref-1", "summary": "s", "same_child": [{"local_id": "a"}, {"local_id": "b"}]},
         "a retraction may not have same_child"),
        ({"type": "identity_link"}, "an identity_link needs same_child"),
        ({"type": "identity_link", "same_child": [{"local_id": "a"}]}, "same_child must be a list of 2 to 20"),
        ({"type": "identity_link", "same_child": [{"local_id": str(i)} for i in range(21)]}, "2 to 20"),
        ({"type": "identity_link", "same_child": {"a": 1}}, "same_child must be a list"),
        ({"type": "identity_link", "same_child": [{"local_id": "a"}, {"upn": "A801200005001"}]}, "upn has an invalid"),
        ({"type": "identity_link", "same_child": [{"local_id": "a"}, {"nhs_number": "9434765919"}], "amends": "x"},
         "an identity_link may not have amends"),
    ],
)  # fmt: skip
def test_each_record_type_needs_its_own_fields(data, words):
    with pytest.raises(InvalidPayload, match=words):
        parse_payload({"agency": AGENCY, "record_id": "ref-2", **data})


def test_an_identity_link_scopes_each_local_id_to_its_named_agency():
    parsed = parse_payload(
        {
            "agency": AGENCY,
            "record_id": "link-1",
            "type": "identity_link",
            "same_child": [{"local_id": "P-1"}, {"local_id": "H-1", "agency": "northshire-health"}],
        }
    )
    assert [c.strong_keys() for c in parsed.same_child] == [
        ["local:northshire-police:P-1"],
        ["local:northshire-health:H-1"],
    ]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"agency": "a", "agency": "b"}', "repeated name"),
        (b'{"agency": "a", "record_id": NaN}', "NaN is not JSON"),
        (b'{"record_id": "r"}', "agency must be a string"),
        (b'{"agency": "Northshire Police"}', "agency must be 1-64 of a-z"),
        ('{"agency": "northshire-police"}'.encode("utf-16"), "not valid JSON"),
        (b'{"agency": "northshire-police", "summary": "\\ud800"}', "summary holds a lone surrogate"),
    ],
)
def test_payload_bytes_must_be_one_unambiguous_json_object(raw, words):
    with pytest.raises(InvalidPayload, match=words):
        peek_agency(raw)


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"agency": ' + b"[" * 65 + b"]" * 65 + b"}"])
def test_a_payload_nested_too_deeply_is_a_malformed_request_not_a_recursion_error(raw):
    with pytest.raises(MalformedRequest, match="nested too deeply"):
        peek_agency(raw)


def test_record_ids_are_uuid5_of_agency_and_record_id():
    assert record_aggregate_id("a", "r") == record_aggregate_id("a", "r")
    assert record_aggregate_id("a", "r") != record_aggregate_id("b", "r")
    assert record_aggregate_id("a-b", "c") != record_aggregate_id("a", "b-c")
    assert record_aggregate_id("a", "r").version == 5


def test_the_recorded_event_is_what_the_aggregate_emits():
    fields = dict(agency=AGENCY, record_id="r1", payload_type="t", payload="cA==", signatures=[{"keyid": "k", "sig": "s"}], keyid="k")
    direct = Record.recorded(**fields)
    (emitted,) = Record(**fields).collect_events()
    assert type(direct) is type(emitted)
    assert {**vars(direct), "timestamp": None} == {**vars(emitted), "timestamp": None}
    record = direct.mutate(None)
    assert isinstance(record, Record) and record.id == record_aggregate_id(AGENCY, "r1") and record.payload == "cA=="
    assert isinstance(record.id, uuid.UUID) and record.version == 1
