"""The review view's rules apart from HTML: whose earlier looks count as "last looked", the
date-range shortcuts, and the table's order."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from api.tokens import Principal
from api.usecases.pages import last_look
from api.web_pages import ViewQuery, _months_before
from domain.errors import InvalidPayload
from projections.access import AccessRead

T0 = datetime(2026, 11, 1, 9, tzinfo=timezone.utc)
ME = Principal("tok-1", "practitioner", local_authority="990", holder="Sam Example")


def read(hours: int, token: str = "tok-1", holder: str | None = "Sam Example", council: str = "990",
         outcome: str = "allowed", role: str = "practitioner") -> AccessRead:  # fmt: skip
    return AccessRead(T0 + timedelta(hours=hours), holder, token, role, None, council, "child-1", "child_page", {},
                      None, False, None, outcome, hours)  # fmt: skip


def test_the_last_look_is_the_readers_own_latest_allowed_look():
    reads = [read(1), read(2, token="tok-2"), read(3, outcome="refused"), read(4, token="x", holder="Alex Other"),
             read(5, token="y", holder="Sam Example", council="991")]  # fmt: skip
    assert last_look(reads, ME) == T0 + timedelta(hours=2)  # a new token of the same person counts; a refusal does not
    assert last_look([], ME) is None
    assert last_look([read(1, token="y", holder=None)], ME) is None
    nameless = Principal("tok-9", "inquiry")
    assert last_look([read(1, token="tok-9", holder=None, role="inquiry"), read(2, holder=None, role="inquiry")],
                     nameless) == T0 + timedelta(hours=1)  # fmt: skip


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)), st.integers(min_value=1, max_value=36))
def test_a_shortcut_starts_that_many_calendar_months_back(day, months):
    start = _months_before(day, months)
    assert (day.year * 12 + day.month) - (start.year * 12 + start.month) == months
    assert start.day == day.day or (start.day < day.day and (start + timedelta(days=1)).day == 1)


def test_the_shortcuts_keep_the_view_and_mark_the_range_shown():
    view = ViewQuery(order="newest", agency="northshire-police", date_from=date(2026, 9, 2))
    zooms = view.zooms(date(2026, 12, 2))
    assert [words for words, _, _ in zooms] == ["last 3 months", "last 6 months", "last 12 months", "all dates"]
    assert zooms[0][1] == {"agency": "northshire-police", "from": "2026-09-02", "order": "newest"} and zooms[0][2]
    assert "from" not in zooms[3][1] and not zooms[3][2]
    as_of = ViewQuery(as_of=datetime(2026, 5, 31, 12, tzinfo=timezone.utc)).zooms(date(2026, 12, 2))
    assert as_of[0][1]["from"] == "2026-02-28", "the range ends at the moment shown, not today"


def parse(order: str) -> ViewQuery:
    return ViewQuery.parse("", "", "", "", "", "", "", order)


def test_the_order_is_oldest_or_newest_and_nothing_else():
    assert parse("").order == "oldest" and parse("newest").order == "newest"
    assert "order" not in parse("oldest").query() and parse("newest").query() == {"order": "newest"}
    with pytest.raises(InvalidPayload):
        parse("random")
