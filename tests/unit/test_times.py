"""The one RFC 3339 reader (domain/times): what occurred_at, as_of, the web view's "as known at" and
token expiry accept, and that no time outside UTC's range escapes as an OverflowError."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from api.tokens import parse_expiry
from domain.errors import InvalidPayload, LedgerError, MalformedRequest
from domain.times import parse_date, parse_instant, parse_optional_instant, parse_time
from tests.unicode_text import any_text

offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda minutes: timezone(timedelta(minutes=minutes)))


def rfc3339(moment: datetime) -> str:
    """``moment`` written as RFC 3339 by hand (strftime's %Y does not pad years below 1000 on Linux)."""
    offset = moment.utcoffset()
    sign, minutes = ("-", -offset // timedelta(minutes=1)) if offset < timedelta(0) else ("+", offset // timedelta(minutes=1))
    day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
    return f"{day}T{clock}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@given(st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)), offsets)
def test_any_date_time_with_offset_in_range_keeps_its_instant(naive, zone):
    moment = naive.replace(tzinfo=zone)
    parsed = parse_time(rfc3339(moment), "as_of")
    assert parsed.instant == moment and parsed.instant.utcoffset() == timedelta(0) and not parsed.date_only


@given(st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)), offsets)
def test_any_written_time_is_an_instant_or_a_clean_refusal_never_an_overflow(naive, zone):
    text = rfc3339(naive.replace(tzinfo=zone))
    try:
        instant = parse_instant(text, "as_of")
    except MalformedRequest as refusal:
        assert "outside the times the ledger can represent" in str(refusal)
        with pytest.raises(OverflowError):
            naive.replace(tzinfo=zone).astimezone(timezone.utc)
    else:
        assert instant == naive.replace(tzinfo=zone)


@given(any_text)
def test_any_text_is_a_time_or_a_ledger_error_naming_the_field(text):
    for options in ({}, {"allow_date": True, "date_end": True}, {"browser": True}):
        try:
            parse_time(text, "when", error=InvalidPayload, **options)
        except InvalidPayload as refusal:
            assert str(refusal).startswith("when ")


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-23:59", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59+01:00"]
)
def test_times_beyond_utc_are_refused_for_every_use(text):
    with pytest.raises(MalformedRequest, match="as_of is outside the times"):
        parse_instant(text, "as_of")
    with pytest.raises(MalformedRequest, match="as known at is outside the times"):
        parse_instant(text, "as known at", browser=True)
    with pytest.raises(InvalidPayload, match="occurred_at is outside the times"):
        parse_time(text, "occurred_at", allow_date=True, error=InvalidPayload)
    with pytest.raises(InvalidPayload, match="expiry is outside the times"):
        parse_expiry(text)


def test_the_last_day_as_an_expiry_would_end_beyond_9999():
    with pytest.raises(InvalidPayload, match="expiry is outside the times"):
        parse_expiry("9999-12-31")
    assert parse_expiry("9999-12-30") == datetime(9999, 12, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-03-01T09:30:00Z", datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)),
        ("2026-03-01t09:30:00z", datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)),
        ("2026-03-01 09:30:00+01:00", datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)),
        ("2026-03-01T09:30:00-00:00", datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)),
        ("2026-03-01T09:30:00.5Z", datetime(2026, 3, 1, 9, 30, 0, 500000, tzinfo=timezone.utc)),
        ("2026-03-01T09:30:00.123456789+05:30", datetime(2026, 3, 1, 4, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2026-03-01T12:00:00.123456Z", datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)),  # format_time
    ],
)
def test_rfc3339_date_times_as_every_use_takes_them(text, instant):
    assert parse_instant(text, "as_of") == instant
    assert parse_instant(text, "as known at", browser=True) == instant
    assert parse_time(text, "occurred_at", allow_date=True, error=InvalidPayload).instant == instant
    assert parse_expiry(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T09:30:00", "2026-03-01T09:30Z", "2026-03-01", "20260301T093000Z", "2026-W09-7T09:30:00Z",
        "2026-03-01T09:30:00+0100", "2026-03-01T09:30:00+01", "2026-03-01T09:30:00+01:00:30", "2026-03-01T09:30:00,5Z",
        "2026-03-01T09:30:00.Z", "2026-03-01T09:30:00.1234567890Z", "\u0662\u0660\u0662\u0666-03-01T09:30:00Z",
        "2026-03-01T09:30:00\uff3a", " 2026-03-01T09:30:00Z", "2026-03-01T09:30:00Z\n", "yesterday", "",
    ],
)  # fmt: skip
def test_what_is_not_an_rfc3339_date_time_with_offset_is_a_400_for_as_of(text):
    with pytest.raises(MalformedRequest, match="as_of must be an RFC 3339 date-time with offset"):
        parse_instant(text, "as_of")


@pytest.mark.parametrize(
    "text", ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T09:60:00Z",
             "2026-03-01T09:30:60Z", "2026-03-01T09:30:00+24:00", "2026-03-01T09:30:00+01:60", "0000-01-01T00:00:00Z"],
)  # fmt: skip
def test_a_date_time_that_is_not_real_is_refused(text):
    with pytest.raises(MalformedRequest, match="as_of is not a real date and time"):
        parse_instant(text, "as_of")


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-03T09:00", datetime(2026, 11, 3, 9, tzinfo=timezone.utc)),
        ("2026-11-03T09:00:05", datetime(2026, 11, 3, 9, 0, 5, tzinfo=timezone.utc)),
        ("2026-11-03 09:00:05.25", datetime(2026, 11, 3, 9, 0, 5, 250000, tzinfo=timezone.utc)),
        ("  2026-11-03T09:00  ", datetime(2026, 11, 3, 9, tzinfo=timezone.utc)),
        ("2026-11-03T09:00+01:00", datetime(2026, 11, 3, 8, tzinfo=timezone.utc)),
    ],
)
def test_a_browsers_date_time_without_offset_is_utc_in_the_web_form_only(text, instant):
    assert parse_instant(text, "as known at", browser=True) == instant
    with pytest.raises(MalformedRequest):
        parse_instant(text, "as_of")


def test_blank_or_absent_optional_instants_are_none():
    assert parse_optional_instant(None, "as_of") is None
    assert parse_optional_instant("   ", "as known at", browser=True) is None
    with pytest.raises(MalformedRequest, match="as_of must be"):
        parse_optional_instant("", "as_of")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("2026-03-01", datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 2, tzinfo=timezone.utc)),
     ("2028-02-29", datetime(2028, 2, 29, tzinfo=timezone.utc), datetime(2028, 3, 1, tzinfo=timezone.utc)),
     ("0001-01-01", datetime(1, 1, 1, tzinfo=timezone.utc), datetime(1, 1, 2, tzinfo=timezone.utc))],
)  # fmt: skip
def test_a_date_alone_is_the_start_of_its_day_or_for_an_expiry_the_end(text, start, end):
    moment = parse_time(text, "occurred_at", allow_date=True, error=InvalidPayload)
    assert (moment.text, moment.instant, moment.date_only) == (text, start, True)
    assert parse_expiry(text) == end


@pytest.mark.parametrize("text", ["2026-02-30", "2026-3-01", "\u0662\u0660\u0662\u0666-03-01", "2026/03/01", "26-03-01"])
def test_dates_are_real_and_written_in_ascii_digits(text):
    with pytest.raises(InvalidPayload, match="occurred_at"):
        parse_time(text, "occurred_at", allow_date=True, error=InvalidPayload)
    with pytest.raises(MalformedRequest, match="from"):
        parse_date(text, "from")


def test_parse_date_gives_a_calendar_date():
    assert parse_date("2024-05-01", "date_of_birth") == date(2024, 5, 1)


@pytest.mark.parametrize("value", [None, 1772357400, ["2026-03-01"], b"2026-03-01"])
def test_a_time_must_be_text(value):
    with pytest.raises(LedgerError, match="occurred_at must be"):
        parse_time(value, "occurred_at", allow_date=True, error=InvalidPayload)
