"""SPEC 6.6 for records: every text value of every record type, given any Unicode text (lone
surrogates and controls included), is refused with InvalidPayload naming the field, or accepted and
kept exactly, both as a decoded payload and through its signed JSON bytes. Pure: no storage."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from domain import envelope as dsse
from domain.entries import canonical_json
from domain.errors import InvalidPayload, MalformedEnvelope
from domain.records import parse_payload, peek_agency
from domain.times import Moment
from tests.unicode_text import encodable, free_text_ok, line_ok, texts

AGENCY = "northshire-police"
KEY = Ed25519PrivateKey.generate()
SUBJECT = {"nhs_number": "9434765919", "local_id": "P-1", "given_name": "Ada", "family_name": "Example",
           "postcode": "ZZ99 3ZZ", "aliases": ["Addy", "A. Example"], "date_of_birth": "2024-05-01"}  # fmt: skip
BASE = {
    "concern": {"agency": AGENCY, "record_id": "ref-2", "type": "concern", "subject": SUBJECT,
                "occurred_at": "2026-03-01T09:30:00Z", "category": "neglect", "summary": "Fictional.",
                "action_taken": "Referred.", "author": {"role": "PC", "name": "A. Officer"}, "local_authority": "309"},
    "amendment": {"agency": AGENCY, "record_id": "ref-3", "type": "amendment", "subject": SUBJECT, "amends": "ref-2",
                  "occurred_at": "2026-03-01", "category": "neglect", "summary": "Fictional, corrected."},
    "retraction": {"agency": AGENCY, "record_id": "ref-4", "type": "retraction", "amends": "ref-2", "summary": "In error."},
    "identity_link": {"agency": AGENCY, "record_id": "ref-5", "type": "identity_link",
                      "same_child": [{"local_id": "P-1", "given_name": "Ada"},
                                     {"local_id": "H-1", "agency": "northshire-health", "aliases": ["Addy", "Ade"]}]},
}  # fmt: skip

# (record type, path, rule, max length): "free" text, a "line", or a "format" (an enum or a pattern).
FIELDS = [
    ("concern", ("summary",), "free", 4000),
    ("concern", ("action_taken",), "free", 4000),
    ("retraction", ("summary",), "free", 4000),
    ("concern", ("record_id",), "line", 128),
    ("amendment", ("amends",), "line", 128),
    ("retraction", ("amends",), "line", 128),
    ("concern", ("author", "role"), "line", 200),
    ("concern", ("author", "name"), "line", 200),
    ("concern", ("subject", "local_id"), "line", 128),
    ("concern", ("subject", "given_name"), "line", 200),
    ("amendment", ("subject", "family_name"), "line", 200),
    ("concern", ("subject", "postcode"), "line", 10),
    ("concern", ("subject", "aliases", 1), "line", 200),
    ("identity_link", ("same_child", 0, "local_id"), "line", 128),
    ("identity_link", ("same_child", 0, "given_name"), "line", 200),
    ("identity_link", ("same_child", 1, "aliases", 0), "line", 200),
    ("concern", ("agency",), "format", 64),
    ("identity_link", ("same_child", 1, "agency"), "format", 64),
    ("concern", ("type",), "format", 20),
    ("concern", ("category",), "format", 30),
    ("concern", ("occurred_at",), "format", 40),
    ("concern", ("local_authority",), "format", 3),
    ("concern", ("subject", "nhs_number"), "format", 10),
    ("concern", ("subject", "upn"), "format", 13),
    ("concern", ("subject", "date_of_birth"), "format", 10),
]


def with_value(kind: str, path: tuple, value: str) -> dict:
    data = copy.deepcopy(BASE[kind])
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


def value_at(parsed, path: tuple) -> object:
    """The parsed value at ``path`` (payload field names map to RecordPayload attributes)."""
    if path[0] == "author":
        return getattr(parsed, f"author_{path[1]}")
    item: object = parsed
    for step in path:
        item = item[step] if isinstance(step, int) else getattr(item, step)
    return item


def field_name(path: tuple) -> str:
    """How a refusal names the field: the path up to its last name (list positions vary)."""
    names = [str(step) if isinstance(step, str) else f"[{step}]" for step in path]
    while names[-1].startswith("["):
        names.pop()
    return ".".join(names).replace(".[", "[")


def judge(data: dict) -> object:
    """parse_payload of the dict, and of its JSON bytes (surrogates travel as \\u escapes): the same
    outcome both ways, a RecordPayload or an InvalidPayload."""
    outcomes = []
    for parse in (lambda: parse_payload(data), lambda: parse_payload(peek_agency(json.dumps(data).encode())[0])):
        try:
            outcomes.append(parse())
        except InvalidPayload as refusal:
            outcomes.append(refusal)
    direct, via_json = outcomes
    assert type(direct) is type(via_json)
    if not isinstance(direct, InvalidPayload):
        assert direct == via_json
    return direct


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(FIELDS), texts)
def test_every_text_field_of_every_record_type_is_refused_by_name_or_kept_exactly(field, text):
    kind, path, rule, max_length = field
    data = with_value(kind, path, text)
    outcome = judge(data)
    if isinstance(outcome, InvalidPayload):
        message = str(outcome)
        assert field_name(path) in message
        assert message.isprintable() and encodable(message)
        if len(text) > 3:
            assert text not in message
        return
    kept = value_at(outcome, path)
    kept = kept.text if isinstance(kept, Moment) else kept.isoformat() if isinstance(kept, date) else kept
    assert kept == text
    assert (free_text_ok if rule == "free" else line_ok)(text) and 1 <= len(text) <= max_length
    assert canonical_json(data)  # the entry embedding it can be written as UTF-8


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([f for f in FIELDS if f[2] != "format"]), texts)
def test_a_text_field_is_refused_exactly_when_it_breaks_the_rule_or_its_length(field, text):
    kind, path, rule, max_length = field
    ok = (free_text_ok if rule == "free" else line_ok)(text) and 1 <= len(text) <= max_length
    outcome = judge(with_value(kind, path, text))
    assert isinstance(outcome, InvalidPayload) != ok


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("summary",), "\ud800", ["summary", "a lone surrogate"]),
        (("summary",), "Fictional\x00", ["summary must hold no control character but tab and line breaks", "a NUL"]),
        (("action_taken",), "\x1b[31m", ["action_taken must hold no control character", "U+001B"]),
        (("subject", "given_name"), "Ada\u202e", ["subject.given_name must be printable", "category Cf"]),
        (("author", "name"), "A\nOfficer", ["author.name must be printable", "a tab or line break"]),
        (("record_id",), "ref\udc80", ["record_id", "a lone surrogate"]),
        (("local_authority",), "\u0663\u0660\u0669", ["local_authority must be a string of three digits"]),
        (("occurred_at",), "9999-12-31T23:59:59-23:59", ["occurred_at is outside the times"]),
        (("occurred_at",), "0001-01-01T00:00:00+01:00", ["occurred_at is outside the times"]),
    ],
)
def test_regressions(path, value, words):
    """Refused both as a dict and through JSON bytes (where a surrogate is refused by the parser)."""
    data = with_value("concern", path, value)
    for parse in (lambda: parse_payload(data), lambda: parse_payload(peek_agency(json.dumps(data).encode())[0])):
        with pytest.raises(InvalidPayload) as refusal:
            parse()
        assert all(word in str(refusal.value) for word in words), str(refusal.value)


@pytest.mark.parametrize("kind", list(BASE))
def test_the_base_records_are_valid(kind):
    assert not isinstance(judge(BASE[kind]), InvalidPayload)


@settings(max_examples=150, deadline=None)
@given(texts)
def test_a_keyid_is_stored_verbatim_so_it_follows_the_single_line_rule(keyid):
    envelope = dsse.sign(b"{}", KEY)
    envelope["signatures"].append({"keyid": keyid, "sig": envelope["signatures"][0]["sig"]})
    for given_as in (envelope, json.dumps(envelope)):
        try:
            parsed = dsse.parse_envelope(given_as)
        except MalformedEnvelope as refusal:
            assert not line_ok(keyid)
            assert "keyid" in str(refusal) and str(refusal).isprintable()
        else:
            assert line_ok(keyid) and parsed.signatures[1].keyid == keyid

