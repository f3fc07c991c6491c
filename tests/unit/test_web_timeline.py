"""The timeline's geometry: one lane per agency, every entry a mark at its time, none hidden."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from api.web_timeline import LABEL_WIDTH, MAX_TICKS, RIGHT_PAD, WIDTH, TimelineItem, layout

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def item(leaf: int, agency: str, days: float, status: str = "current") -> TimelineItem:
    return TimelineItem(leaf, agency, START + timedelta(days=days), status, f"entry {leaf}")


def test_lanes_follow_the_given_order_and_an_unlisted_agency_gets_its_own_lane():
    timeline = layout([item(0, "police", 10), item(1, "nursery", 20), item(2, "police", 30)],
                      [("police", "Police"), ("health", "Health")])  # fmt: skip
    assert [(lane.agency, len(lane.marks)) for lane in timeline.lanes] == [("police", 2), ("health", 0), ("nursery", 1)]
    assert [lane.name for lane in timeline.lanes] == ["Police", "Health", "nursery"]


def test_an_amendment_on_the_day_of_the_entry_it_supersedes_is_drawn_beside_it_not_on_top():
    timeline = layout([item(0, "ed", 50, "superseded"), item(1, "ed", 50), item(2, "ed", 50, "retracted")], [])
    marks = timeline.lanes[0].marks
    assert len({m.x for m in marks}) == 1 and len({m.y for m in marks}) == 3


def test_month_ticks_label_the_axis_and_long_spans_are_thinned():
    short = layout([item(0, "a", 0), item(1, "a", 240)], [])
    assert [t.label for t in short.ticks][:3] == ["Mar 2026", "Apr 2026", "May 2026"]
    long = layout([item(0, "a", 0), item(1, "a", 3650)], [])
    assert 1 < len(long.ticks) <= MAX_TICKS


def test_an_empty_chronology_draws_empty_lanes():
    timeline = layout([], [("police", "Police")])
    assert timeline.lanes[0].marks == [] and timeline.ticks == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(min_value=0, max_value=4000)), min_size=1, max_size=40))
def test_every_entry_is_one_mark_inside_the_plot_in_time_order(entries):
    items = [item(leaf, agency, days) for leaf, (agency, days) in enumerate(entries)]
    timeline = layout(items, [])
    marks = [m for lane in timeline.lanes for m in lane.marks]
    assert sorted(m.item.leaf_index for m in marks) == list(range(len(items)))
    assert all(LABEL_WIDTH <= m.x <= WIDTH - RIGHT_PAD for m in marks)
    by_time = sorted(marks, key=lambda m: m.item.when)
    assert all(a.x <= b.x for a, b in zip(by_time, by_time[1:]))
    for lane in timeline.lanes:
        assert all(m.item.agency == lane.agency and abs(m.y - lane.y) <= 12 for m in lane.marks)
