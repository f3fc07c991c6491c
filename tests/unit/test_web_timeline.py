"""The timeline's geometry: one lane per agency, every entry a mark at its time, none hidden."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from api.web_timeline import (
    CATEGORY_STYLES,
    DEFAULT_STYLE,
    LABEL_CHARS,
    LABEL_WIDTH,
    MARK_SPACING,
    MAX_TICKS,
    RIGHT_PAD,
    STACK_STEP,
    WIDTH,
    TimelineItem,
    layout,
    shape_path,
    style_of,
)
from domain.records import CATEGORIES

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def item(leaf: int, agency: str, days: float, status: str = "current", category: str | None = None) -> TimelineItem:
    return TimelineItem(leaf, agency, START + timedelta(days=days), status, f"entry {leaf}", category=category)


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
        assert all(m.item.agency == lane.agency and lane.y < m.y < lane.y + lane.height for m in lane.marks)
        for i, a in enumerate(lane.marks):  # no two marks touch: same-day marks are stacked
            assert all(abs(a.x - b.x) >= MARK_SPACING or abs(a.y - b.y) >= STACK_STEP for b in lane.marks[i + 1:])
    assert all(a.y + a.height == b.y for a, b in zip(timeline.lanes, timeline.lanes[1:])), "lanes never overlap"
    assert timeline.axis_y == timeline.lanes[-1].y + timeline.lanes[-1].height


def test_five_events_on_one_day_are_five_marks_one_above_another_and_the_lane_grows_to_hold_them():
    timeline = layout([item(i, "ed", 50) for i in range(5)] + [item(9, "gp", 50)], [])
    ed, gp = timeline.lanes
    assert len({m.y for m in ed.marks}) == 5 and ed.height >= 5 * STACK_STEP and gp.y == ed.y + ed.height


def test_significant_events_stand_out_and_every_recorded_category_has_a_style():
    significant = {c for c in CATEGORIES if style_of(c).significant}
    assert significant >= {"physical_injury", "domestic_abuse", "household_change", "sexual_harm", "missing_episode"}
    assert not style_of("routine_contact").significant and not style_of("was_not_brought").significant
    assert style_of("physical_injury").radius > style_of("routine_contact").radius
    assert set(CATEGORY_STYLES) >= set(CATEGORIES)
    drawn = (*CATEGORIES, "identity_link", "retraction")  # entries without a category are drawn by type
    assert len({(style_of(c).colour, style_of(c).shape) for c in drawn}) == len(drawn), "each looks distinct"
    assert len({style_of(c).shape for c in significant}) == len(significant)


def test_a_category_the_table_does_not_know_is_drawn_plainly_rather_than_breaking_the_page():
    assert style_of("category_of_the_future") == DEFAULT_STYLE and style_of(None) == DEFAULT_STYLE
    timeline = layout([item(0, "csc", 1, category="category_of_the_future")], [])
    assert timeline.styles == [("category_of_the_future", DEFAULT_STYLE)]
    assert shape_path("no-such-shape", 10, 10, 5).startswith("M5.0,10.0 a")


def test_a_long_agency_name_is_wrapped_whole_never_cut():
    name = "Northshire and Westvale Integrated Children's Social Care and Early Help Service"
    lane = layout([item(0, "csc", 1)], [("csc", name)]).lanes[0]
    assert " ".join(lane.name_lines) == name and all(len(line) <= LABEL_CHARS for line in lane.name_lines)
    assert lane.height >= 16 * (len(lane.name_lines) + 1)


@given(st.sampled_from(["circle", "square", "diamond", "triangle", "triangle_down", "triangle_right", "pentagon",
                        "hexagon", "octagon", "star", "cross", "x"]), st.floats(0, 1000), st.floats(0, 500))
def test_every_shape_stays_close_to_its_centre(shape, x, y):
    r = 10
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d", shape_path(shape, x, y, r))]
    if shape != "circle":
        xs, ys = numbers[0::2], numbers[1::2]
        assert all(abs(px - x) <= 1.5 * r for px in xs) and all(abs(py - y) <= 1.5 * r for py in ys)


def test_with_a_date_of_birth_each_month_on_the_axis_says_how_old_the_child_was():
    born = datetime(2026, 2, 9).date()
    timeline = layout([item(0, "a", 0), item(1, "a", 240)], [], born)
    assert [(t.label, t.age) for t in timeline.ticks][:3] == [("Mar 2026", "2 weeks"), ("Apr 2026", "1 month"),
                                                               ("May 2026", "2 months")]  # fmt: skip
    assert timeline.height > layout([item(0, "a", 0), item(1, "a", 240)], []).height
    assert all(t.age == "" for t in layout([item(0, "a", 0)], []).ticks)
