"""The geometry of the chronology timeline: one lane per agency along one time axis.

Pure layout, no HTML: the template draws what this computes, so a test can check where every mark
lands without a browser. Coordinates are in the SVG's own units (``WIDTH`` wide); the browser scales
the drawing to the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

WIDTH = 1000
LABEL_WIDTH = 270
RIGHT_PAD = 24
LANE_HEIGHT = 46
AXIS_HEIGHT = 34
TOP_PAD = 8
MIN_SPAN = timedelta(days=14)
MAX_TICKS = 12
MARK_SPACING = 15  # marks closer than this (SVG units) would overlap
STACK_STEP = 12
STACK_LEVELS = (0, -1, 1)


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """What the timeline needs of one chronology entry."""

    leaf_index: int
    agency: str
    when: datetime
    status: str
    label: str
    highlighted: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    item: TimelineItem
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass
class Lane:
    agency: str
    name: str
    y: float
    index: int
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Timeline:
    lanes: list[Lane]
    ticks: list[Tick]
    height: float
    axis_y: float
    width: int = WIDTH
    label_width: int = LABEL_WIDTH


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def month_starts(start: datetime, end: datetime) -> list[datetime]:
    """The first instant of each calendar month (UTC) from ``start``'s month after ``start`` to ``end``."""
    month = datetime(start.year, start.month, 1, tzinfo=timezone.utc)
    out = []
    while month <= end:
        if month >= start:
            out.append(month)
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=timezone.utc)
    return out


def _free_level(placed: Sequence[Mark], x: float, lane_y: float) -> int:
    """The first of levels 0, -1, 1 where a mark at ``x`` overlaps none already placed (else 0), so
    an amendment drawn on the day of the entry it supersedes stays visible beside it."""
    for level in STACK_LEVELS:
        y = lane_y + STACK_STEP * level
        if all(abs(m.x - x) >= MARK_SPACING or abs(m.y - y) >= STACK_STEP / 2 for m in placed):
            return level
    return 0


def layout(items: Sequence[TimelineItem], agencies: Sequence[tuple[str, str]]) -> Timeline:
    """Place each item in its agency's lane at its time; ``agencies`` gives lane order and names.

    Lanes appear for every listed agency (an empty lane says "this agency recorded nothing here"),
    plus any agency an item names that is not listed, in order of first appearance.
    """
    names = dict(agencies)
    order = [agency for agency, _ in agencies]
    for item in items:
        if item.agency not in names:
            names[item.agency] = item.agency
            order.append(item.agency)
    lanes = {
        agency: Lane(agency, names[agency], TOP_PAD + i * LANE_HEIGHT + LANE_HEIGHT / 2, i)
        for i, agency in enumerate(order)
    }
    axis_y = TOP_PAD + len(order) * LANE_HEIGHT
    if not items:
        return Timeline(list(lanes.values()), [], axis_y + AXIS_HEIGHT, axis_y)
    times = [_utc(item.when) for item in items]
    first, last = min(times), max(times)
    span = max(last - first, MIN_SPAN)
    start = first - span * 0.03
    end = start + span * 1.06
    usable = WIDTH - LABEL_WIDTH - RIGHT_PAD

    def x_of(moment: datetime) -> float:
        return round(LABEL_WIDTH + usable * ((_utc(moment) - start) / (end - start)), 1)

    for item in items:
        lane = lanes[item.agency]
        x = x_of(item.when)
        lane.marks.append(Mark(item, x, lane.y + STACK_STEP * _free_level(lane.marks, x, lane.y)))
    months = month_starts(start, end)
    step = max(1, -(-len(months) // MAX_TICKS))  # thin long spans to at most MAX_TICKS labels
    ticks = [Tick(x_of(month), month.strftime("%b %Y")) for month in months[::step]]
    return Timeline(list(lanes.values()), ticks, axis_y + AXIS_HEIGHT, axis_y)
