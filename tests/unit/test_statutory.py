"""Statutory status from statutory events (domain/statutory.py), and the record fields behind it:
the statutory categories and the approximate-date marker (domain/records.py). Pure, no storage."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from domain.errors import InvalidPayload
from domain.records import CATEGORIES, parse_payload
from domain.statutory import STATUSES, STATUTORY_CATEGORIES, StatutoryEvent, current_statuses
from tests.conftest import concern

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
AGENCIES = ("northshire-childrens-services", "westshire-childrens-services")
PLAN_START, PLAN_END = STATUSES["child_protection_plan"][:2]


def event(category: str, days: int, agency: str = AGENCIES[0], approximate: bool = False) -> StatutoryEvent:
    occurred = START + timedelta(days=days)
    return StatutoryEvent(category, occurred, occurred.date(), agency, approximate)


events = st.lists(
    st.builds(event, st.sampled_from(STATUTORY_CATEGORIES + ("physical_injury", "other")), st.integers(0, 60),
              st.sampled_from(AGENCIES), st.booleans()),
    max_size=12,
)  # fmt: skip


def latest_of(status: str, given_events: list[StatutoryEvent]) -> StatutoryEvent | None:
    """The event that decides a status: the last of its starts and ends in the order things happened."""
    start, end, _ = STATUSES[status]
    mine = [e for e in sorted(given_events, key=lambda e: e.occurred) if e.category in (start, end)]
    return mine[-1] if mine else None


def test_a_plan_started_shows_since_its_start_and_the_agency_that_recorded_it():
    (status,) = current_statuses([event("strategy_discussion", 0), event("section_47_enquiry", 1),
                                  event("initial_cp_conference", 13), event(PLAN_START, 13)])  # fmt: skip
    assert (status.status, status.since.day, status.since.agency) == ("child_protection_plan", date(2026, 1, 14),
                                                                       AGENCIES[0])  # fmt: skip
    assert status.wording == "On a child protection plan"


def test_an_ended_plan_shows_nothing_and_an_end_without_a_start_ends_nothing():
    assert current_statuses([event(PLAN_START, 1), event(PLAN_END, 40)]) == []
    assert current_statuses([event(PLAN_END, 5)]) == []
    assert [s.since.day for s in current_statuses([event(PLAN_END, 5), event(PLAN_START, 9)])] == [date(2026, 1, 10)]


def test_a_second_start_does_not_restart_the_plan_but_a_start_after_an_end_does():
    assert current_statuses([event(PLAN_START, 3), event(PLAN_START, 20, AGENCIES[1])])[0].since.day == date(2026, 1, 4)
    again = current_statuses([event(PLAN_START, 3), event(PLAN_END, 10), event(PLAN_START, 30, AGENCIES[1])])
    assert (again[0].since.day, again[0].since.agency) == (date(2026, 1, 31), AGENCIES[1])


def test_the_order_things_happened_decides_not_the_order_they_were_recorded():
    assert current_statuses([event(PLAN_END, 40), event(PLAN_START, 1)]) == []  # the end was recorded first


def test_on_the_same_day_the_later_recorded_event_wins():
    assert current_statuses([event(PLAN_START, 4), event(PLAN_END, 4)]) == []
    assert len(current_statuses([event(PLAN_END, 4), event(PLAN_START, 4)])) == 1
    (again,) = current_statuses([event(PLAN_START, 4), event(PLAN_END, 4), event(PLAN_START, 4, AGENCIES[1])])
    assert again.since.agency == AGENCIES[1]  # the start after the end, not the equal one before it


def test_statuses_are_independent_and_listed_in_a_fixed_order():
    found = current_statuses([event("looked_after_start", 2), event(PLAN_START, 3),
                              event("child_in_need_plan_start", 1), event("child_in_need_plan_end", 2)])
    assert [s.status for s in found] == ["child_protection_plan", "looked_after"]


@given(events)
def test_a_status_is_in_force_exactly_when_its_latest_event_is_a_start(given_events):
    found = {s.status: s for s in current_statuses(given_events)}
    for status, (start, _, _) in STATUSES.items():
        latest = latest_of(status, given_events)
        assert (status in found) == (latest is not None and latest.category == start)


@given(events)
def test_since_is_a_start_of_that_status_with_no_end_between_it_and_now(given_events):
    for status in current_statuses(given_events):
        start, end, _ = STATUSES[status.status]
        assert status.since in given_events and status.since.category == start
        ordered = sorted(given_events, key=lambda e: e.occurred)
        at = next(i for i, e in enumerate(ordered) if e is status.since)  # equal events may repeat
        after = ordered[at:]
        assert not any(e.category == end for e in after)
        before = ordered[:at]
        assert not before or next((e.category for e in reversed(before) if e.category in (start, end)), end) == end


@given(events)
def test_other_categories_never_change_a_status(given_events):
    statutory_only = [e for e in given_events if e.category in STATUTORY_CATEGORIES]
    assert current_statuses(given_events) == current_statuses(statutory_only)


# The record fields ----------------------------------------------------------------------------------


def test_every_statutory_category_is_a_record_category_and_fits_the_read_models_column():
    assert set(STATUTORY_CATEGORIES) <= set(CATEGORIES) and len(set(CATEGORIES)) == len(CATEGORIES)
    assert max(map(len, CATEGORIES)) <= 32  # projections/chronology.py: category String(32)
    for name in ("strategy_discussion", "section_47_enquiry", "initial_cp_conference", "review_cp_conference",
                 PLAN_START, PLAN_END, "child_in_need_plan_start", "child_in_need_plan_end", "looked_after_start",
                 "looked_after_end"):  # fmt: skip
        assert parse_payload(concern("r-1", category=name)).category == name


def test_a_date_may_be_marked_approximate_and_a_version_1_record_is_not():
    assert parse_payload(concern("r-1", occurred_at="2026-03-01", occurred_at_approximate=True)).occurred_at_approximate
    assert parse_payload(concern("r-1", occurred_at_approximate=False)).occurred_at_approximate is False
    assert parse_payload(concern("r-1")).occurred_at_approximate is False


@pytest.mark.parametrize("value", [1, "true", [], {}])
def test_the_approximate_marker_is_a_boolean(value):
    with pytest.raises(InvalidPayload, match="occurred_at_approximate must be true or false"):
        parse_payload(concern("r-1", occurred_at_approximate=value))


def test_the_approximate_marker_needs_a_date_to_qualify():
    retraction = {"agency": "northshire-police", "record_id": "r-2", "type": "retraction", "amends": "r-1",
                  "summary": "Fictional: wrong child.", "occurred_at_approximate": True}  # fmt: skip
    with pytest.raises(InvalidPayload, match="occurred_at_approximate needs occurred_at"):
        parse_payload(retraction)
