"""The one strict JSON parser (domain/jsonstrict): what it takes, what it refuses, and that depth is
judged without recursion."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from domain.errors import InvalidPayload, MalformedEnvelope, MalformedRequest
from domain.jsonstrict import MAX_DEPTH, lone_surrogate_path, nesting_depth, parse_json
from tests.unicode_text import any_text

# Strings full of what confuses a naive bracket count: quotes, backslashes, brackets.
tricky = st.text(st.sampled_from(['"', "\\", "[", "]", "{", "}", "a", " ", "\u00e9", "\U0001f600"]), max_size=8)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), tricky)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3), max_leaves=40
)


def depth(value: object) -> int:
    """Nesting depth by definition, recursively (test values are shallow)."""
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def nest(levels: int) -> str:
    return "[" * levels + "]" * levels


@given(json_values, st.booleans())
def test_any_json_value_round_trips_and_its_depth_is_measured_exactly(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert nesting_depth(text) == depth(value)
    assert parse_json(text.encode("utf-8")) == value


@given(json_values)
def test_wrapping_any_value_to_depth_65_is_refused_and_to_64_accepted(value):
    inner = depth(value)
    if inner > MAX_DEPTH:
        return
    wrap = MAX_DEPTH - inner
    text = "[" * wrap + json.dumps(value) + "]" * wrap
    assert parse_json(text) == json.loads(text)
    with pytest.raises(MalformedEnvelope, match="nested too deeply"):
        parse_json("[" + text + "]")


@settings(deadline=None, max_examples=8)
@given(st.sampled_from(["[", "{", '{"a":', '["x",']), st.sampled_from([100_000, 300_000]))
def test_hundreds_of_thousands_of_open_brackets_are_a_clean_refusal(opener, count):
    with pytest.raises(MalformedEnvelope, match="nested too deeply"):
        parse_json((opener * count).encode())


def test_depth_errors_can_be_a_400_where_other_errors_are_a_422():
    with pytest.raises(MalformedRequest, match="the payload is nested too deeply"):
        parse_json(nest(100_000), what="the payload", error=InvalidPayload, deep_error=MalformedRequest)
    with pytest.raises(InvalidPayload, match="the payload is not valid JSON"):
        parse_json("{", what="the payload", error=InvalidPayload, deep_error=MalformedRequest)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\xff{}", "byte 0 is not UTF-8"),
        ('{"a": 1}'.encode("utf-16"), "is not UTF-8"),
        (b'"\xed\xa0\x80"', "is not UTF-8"),  # a surrogate spelt in (invalid) UTF-8
        (b'{"a": 1, "a": 1}', "repeated name"),
        (b"[NaN]", "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b"[-Infinity]", "-Infinity is not JSON"),
        (b'"\\ud800"', "the top level holds a lone surrogate"),
        (b'{"summary": "\\uDC00x"}', "summary holds a lone surrogate"),
        (b'{"a": ["ok", "\\udc00\\ud800"]}', "a[1] holds a lone surrogate"),  # a pair in the wrong order
        (b'{"\\ud800": 1}', "a name in the top-level object holds a lone surrogate"),
        (b'["\x00"]', "Invalid control character"),
        (b"[1,]", "Expecting value"),
        (b"", "Expecting value"),
        (b"{} {}", "Extra data"),
    ],
)
def test_strictness(raw, words):
    with pytest.raises(MalformedEnvelope, match="the body is not valid JSON") as refusal:
        parse_json(raw)
    assert words in str(refusal.value)


def test_a_lone_surrogate_in_text_given_as_str_is_refused_too():
    with pytest.raises(MalformedEnvelope, match="x holds a lone surrogate"):
        parse_json('{"x": "\ud800"}')


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"\\ud83d\\ude00"', "\U0001f600"),  # a proper pair is one character
        ('"\\\\ud800"', "\\ud800"),  # an escaped backslash, then letters: no surrogate at all
        ('"\\u0000"', "\x00"),  # JSON may spell NUL; text hygiene refuses it field by field
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)),
        ('["]]]]]]]]", {"[": "{{{{"}]', ["]]]]]]]]", {"[": "{{{{"}]),
    ],
)
def test_what_strict_json_still_takes(text, value):
    assert parse_json(text) == value


@given(any_text)
def test_any_string_either_round_trips_or_is_refused_for_a_lone_surrogate(text):
    encoded = json.dumps({"s": text}).encode()  # ensure_ascii: surrogates become \u escapes
    try:
        assert parse_json(encoded) == {"s": text}
    except MalformedEnvelope as refusal:
        assert "s holds a lone surrogate" in str(refusal)
        assert lone_surrogate_path({"s": text}) == "s"


@given(st.binary(max_size=64))
def test_arbitrary_bytes_are_parsed_or_refused_never_crash(raw):
    try:
        value = parse_json(raw)
    except MalformedEnvelope as refusal:
        assert str(refusal).isprintable()
    else:
        assert value == json.loads(raw.decode("utf-8"))


def test_unterminated_strings_full_of_escaped_quotes_take_linear_time():
    """A regular expression scan of strings goes quadratic on these; the parser must just refuse them
    as bad JSON (the brackets are inside a string: they do not nest)."""
    with pytest.raises(MalformedEnvelope, match="not valid JSON"):
        parse_json('["' + '\\"' * 500_000 + "[" * 70)
    with pytest.raises(MalformedEnvelope, match="not valid JSON"):
        parse_json('{"' + '\\"' * 300_000 + "{" * 70)
