"""Text hygiene (SPEC 6.6), domain/text: the rule against an independent statement of it, over the
whole Unicode range with surrogates and controls included."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from domain.errors import InvalidPayload, MalformedRequest
from domain.text import check_printable, check_query_text, check_reference, check_text, shown_name, text_fault
from tests.unicode_text import encodable, free_text_ok, line_ok, texts


@given(texts)
def test_free_text_is_refused_exactly_when_the_rule_says(text):
    assert (text_fault(text) is None) == free_text_ok(text)


@given(texts)
def test_a_single_line_value_is_refused_exactly_when_it_is_not_printable(text):
    assert (text_fault(text, single_line=True) is None) == line_ok(text)


@given(texts)
def test_whatever_passes_can_be_stored_as_utf8_and_single_line_is_the_stricter_rule(text):
    if text_fault(text) is None:
        assert encodable(text)
    if text_fault(text, single_line=True) is None:
        assert text_fault(text) is None and not set(text) & set("\t\n\r\u2028\u2029")


@given(texts.filter(lambda t: 1 <= len(t)), st.sampled_from([InvalidPayload, MalformedRequest]), st.booleans())
def test_a_refusal_names_the_field_and_never_the_value(text, error, single_line):
    try:
        assert check_text(text, "summary", 100, single_line=single_line, error=error) == text
    except error as refusal:
        message = str(refusal)
        assert message.startswith("summary ") and message.isprintable() and encodable(message)
        if len(text) > 3:
            assert text not in message
    else:
        assert (line_ok if single_line else free_text_ok)(text)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("Fictional\x00text", "a NUL character at position 10"),
        ("\ud800", "a lone surrogate (U+D800-U+DFFF) at position 1"),
        ("ok\udfff", "a lone surrogate"),
        ("bell\x07", "a control character (U+0007)"),
        ("next\x85line", "a control character (U+0085)"),
        ("\ufffe", "a Unicode non-character (U+FFFE)"),
        ("x\U0010ffff", "a Unicode non-character (U+10FFFF)"),
    ],
)
def test_free_text_refusals_say_what_and_where(value, words):
    with pytest.raises(InvalidPayload, match="summary must hold no control character") as refusal:
        check_text(value, "summary", 4000)
    assert words in str(refusal.value)


@pytest.mark.parametrize("value", ["line one\nline two", "tab\there", "crlf\r\n", "\u2028", "\u200b", "emoji \U0001f600"])
def test_free_text_keeps_line_breaks_and_printable_oddities(value):
    assert check_text(value, "summary", 4000) == value


@pytest.mark.parametrize(
    ("value", "words"),
    [("Ada\tExample", "a tab or line break"), ("Ada\u2028", "category Zl"), ("A\u200bda", "category Cf"), ("\x00", "NUL")],
)
def test_single_line_values_hold_no_control_at_all(value, words):
    with pytest.raises(InvalidPayload, match="given_name must be printable characters only") as refusal:
        check_printable(value, "given_name", 200)
    assert words in str(refusal.value)


def test_query_values_are_refused_as_malformed_requests():
    with pytest.raises(MalformedRequest, match="local_id must be printable"):
        check_query_text("L\x001", "local_id", 128)
    with pytest.raises(MalformedRequest, match="reason must hold no control"):
        check_query_text("why\x00", "reason", 1000, single_line=False)
    with pytest.raises(MalformedRequest, match="record_id must be 1-128"):
        check_reference("", "record_id", error=MalformedRequest)
    assert check_query_text("why\nbecause", "reason", 1000, single_line=False) == "why\nbecause"


@pytest.mark.parametrize(("value", "words"), [(7, "must be a string"), (None, "must be a string"), ("", "1-5"), ("x" * 6, "1-5")])
def test_type_and_length_come_first(value, words):
    with pytest.raises(InvalidPayload, match=words):
        check_text(value, "name", 5)


@given(st.one_of(texts, st.integers(), st.none()))
def test_a_shown_name_is_always_safe_to_print(name):
    shown = shown_name(name)
    assert shown.isprintable() and 0 < len(shown) <= 60
    assert shown == name or shown.startswith("(one not shown")
