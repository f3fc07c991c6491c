"""The geometry of the chronology timeline: one lane per agency along one time axis.

Pure layout, no HTML: the template draws what this computes, so a test can check where every mark
lands without a browser. Coordinates are in the SVG's own units (``WIDTH`` wide); the browser scales
the drawing to the page. Each category has a colour, a shape and a significance, as data with a
fallback, so a category added later is drawn (plainly) rather than breaking the page; significant
events (injury, domestic abuse, a new adult, sexual harm, going missing) are drawn larger and outlined
so they stand out over routine contacts. Marks that would touch are stacked, never drawn on top of
each other, and the lane grows to hold them.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from domain.ages import age_words

WIDTH = 1000
LABEL_WIDTH = 270
RIGHT_PAD = 24
LANE_HEIGHT = 50  # at least; a lane with stacked marks or a long name is taller
LABEL_LINE = 16
LABEL_CHARS = 30  # a lane name wraps at about this many characters, never cut
AXIS_HEIGHT = 34
AGE_ROW = 18  # under the months, the child's age at each, when a date of birth is known
TOP_PAD = 8
MIN_SPAN = timedelta(days=14)
MAX_TICKS = 12
MARK_SPACING = 24  # marks closer than this (SVG units) would touch
STACK_STEP = 24


@dataclass(frozen=True, slots=True)
class MarkStyle:
    """How one category is drawn: a colour (3:1 or more on the lane bands), a shape, and whether it
    is a significant event for a reviewer, which is said in words as well as drawn larger."""

    colour: str
    shape: str
    significant: bool = False

    @property
    def radius(self) -> float:
        return 10.0 if self.significant else 7.0

    @property
    def key_path(self) -> str:
        """The mark as the key (and the table) shows it, in a 24 by 24 box."""
        return shape_path(self.shape, 12, 12, self.radius * 0.8)


STATUTORY_COLOUR = "#0b0c0c"
CATEGORY_STYLES: dict[str, MarkStyle] = {
    "physical_injury": MarkStyle("#b10e1e", "star", True),
    "domestic_abuse": MarkStyle("#a33b00", "diamond", True),
    "sexual_harm": MarkStyle("#8b1a5e", "triangle_down", True),
    "household_change": MarkStyle("#1d4e9e", "square", True),
    "missing_episode": MarkStyle("#00626b", "triangle", True),
    "neglect": MarkStyle("#5c4b00", "hexagon"),
    "emotional_harm": MarkStyle("#4a3a8c", "pentagon"),
    "was_not_brought": MarkStyle("#505a5f", "cross"),
    "school_absence": MarkStyle("#505a5f", "x"),
    "parental_substance_misuse": MarkStyle("#6b4400", "octagon"),
    "parental_mental_health": MarkStyle("#3d5a00", "triangle_right"),
    "routine_contact": MarkStyle("#00703c", "circle"),
    "other": MarkStyle("#484949", "circle"),
    # statutory events (domain/statutory.py): decisions about the child, one colour, a shape each
    "strategy_discussion": MarkStyle(STATUTORY_COLOUR, "diamond"),
    "section_47_enquiry": MarkStyle(STATUTORY_COLOUR, "pentagon"),
    "initial_cp_conference": MarkStyle(STATUTORY_COLOUR, "hexagon"),
    "review_cp_conference": MarkStyle(STATUTORY_COLOUR, "octagon"),
    "child_protection_plan_start": MarkStyle(STATUTORY_COLOUR, "star4"),
    "child_protection_plan_end": MarkStyle(STATUTORY_COLOUR, "x"),
    "child_in_need_plan_start": MarkStyle(STATUTORY_COLOUR, "square"),
    "child_in_need_plan_end": MarkStyle(STATUTORY_COLOUR, "cross"),
    "looked_after_start": MarkStyle(STATUTORY_COLOUR, "triangle"),
    "looked_after_end": MarkStyle(STATUTORY_COLOUR, "triangle_down"),
    # entries that carry no category of their own are drawn by their type
    "identity_link": MarkStyle("#1d4e9e", "circle"),
    "retraction": MarkStyle("#b10e1e", "x"),
}
DEFAULT_STYLE = MarkStyle("#484949", "circle")


def style_of(category: str | None) -> MarkStyle:
    """The category's style; one not in the table (or none) is drawn as a plain grey circle."""
    return CATEGORY_STYLES.get(category or "", DEFAULT_STYLE)


def _polygon(x: float, y: float, r: float, sides: int, turn: float, inner: float = 1.0) -> str:
    """A closed path through ``sides`` points round (x, y) (alternating with ``inner`` radius for a star)."""
    count = sides * (2 if inner != 1.0 else 1)
    points = []
    for i in range(count):
        radius = r if i % 2 == 0 or inner == 1.0 else r * inner
        angle = math.radians(turn) + 2 * math.pi * i / count
        points.append(f"{x + radius * math.sin(angle):.1f},{y - radius * math.cos(angle):.1f}")
    return "M" + " L".join(points) + " Z"


def _plus(x: float, y: float, r: float, turn: float) -> str:
    w = r * 0.38
    corners = [(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r),
               (-w, -r), (-w, -w), (-r, -w), (-r, w), (-w, w), (-w, r)]  # fmt: skip
    cos, sin = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    return "M" + " L".join(f"{x + a * cos - b * sin:.1f},{y + a * sin + b * cos:.1f}" for a, b in corners) + " Z"


def shape_path(shape: str, x: float, y: float, r: float) -> str:
    """The SVG path of a mark of ``shape`` centred on (x, y), about ``r`` in radius (circle if unknown)."""
    polygons = {"square": (4, 45, 0.9), "diamond": (4, 0, 1.15), "triangle": (3, 0, 1.2),
                "triangle_down": (3, 180, 1.2), "triangle_right": (3, 90, 1.2), "pentagon": (5, 0, 1.05),
                "hexagon": (6, 0, 1.0), "octagon": (8, 22.5, 1.0)}  # fmt: skip
    if shape in polygons:
        sides, turn, scale = polygons[shape]
        return _polygon(x, y, r * scale * (1.41 if shape == "square" else 1), sides, turn)
    if shape == "star":
        return _polygon(x, y, r * 1.3, 5, 0, inner=0.45)
    if shape == "star4":
        return _polygon(x, y, r * 1.3, 4, 0, inner=0.4)
    if shape in ("cross", "x"):
        return _plus(x, y, r * 1.05, 0 if shape == "cross" else 45)
    return f"M{x - r:.1f},{y:.1f} a{r:.1f},{r:.1f} 0 1,0 {2 * r:.1f},0 a{r:.1f},{r:.1f} 0 1,0 {-2 * r:.1f},0 Z"


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """What the timeline needs of one chronology entry."""

    leaf_index: int
    agency: str
    when: datetime
    status: str
    label: str
    highlighted: bool = False
    category: str | None = None  # or the type of an entry without one (a retraction, an identity link)
    new: bool = False  # recorded since the reader last looked

    @property
    def style(self) -> MarkStyle:
        return style_of(self.category)


@dataclass(frozen=True, slots=True)
class Mark:
    item: TimelineItem
    x: float
    y: float
    level: int = 0

    @property
    def path(self) -> str:
        return shape_path(self.item.style.shape, self.x, self.y, self.item.style.radius)


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str
    age: str = ""  # the child's age on that day: "4 months"


@dataclass
class Lane:
    agency: str
    name: str
    y: float  # the top of the lane's band
    index: int
    marks: list[Mark] = field(default_factory=list)
    height: float = LANE_HEIGHT

    @property
    def name_lines(self) -> list[str]:
        """The agency's whole name, wrapped to fit the label column."""
        return textwrap.wrap(self.name, LABEL_CHARS, break_long_words=True) or [self.name]


@dataclass
class Timeline:
    lanes: list[Lane]
    ticks: list[Tick]
    height: float
    axis_y: float
    width: int = WIDTH
    label_width: int = LABEL_WIDTH

    @property
    def styles(self) -> list[tuple[str | None, MarkStyle]]:
        """Each category drawn here with its style, in the order first drawn: the key to this timeline."""
        seen = {m.item.category: m.item.style for lane in self.lanes for m in lane.marks}
        return sorted(seen.items(), key=lambda kv: (not kv[1].significant, kv[0] or ""))


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


def stack_levels(xs: Sequence[float]) -> list[int]:
    """For marks at ``xs`` (in drawing order), the lowest row where each touches no mark already
    placed: same-day marks (an amendment beside the entry it supersedes) sit one above another."""
    rows: list[list[float]] = []
    levels = []
    for x in xs:
        level = next((i for i, row in enumerate(rows) if all(abs(x - other) >= MARK_SPACING for other in row)),
                     len(rows))  # fmt: skip
        if level == len(rows):
            rows.append([])
        rows[level].append(x)
        levels.append(level)
    return levels


def _lane_height(lane: Lane, rows: int) -> float:
    label = LABEL_LINE * len(lane.name_lines) + LABEL_LINE + 10
    return max(LANE_HEIGHT, rows * STACK_STEP + 14, label)


def layout(items: Sequence[TimelineItem], agencies: Sequence[tuple[str, str]], born: date | None = None) -> Timeline:
    """Place each item in its agency's lane at its time; ``agencies`` gives lane order and names.

    Lanes appear for every listed agency (an empty lane says "this agency recorded nothing here"),
    plus any agency an item names that is not listed, in order of first appearance. With ``born``,
    each month on the axis also says how old the child was then.
    """
    names = dict(agencies)
    order = [agency for agency, _ in agencies]
    for item in items:
        if item.agency not in names:
            names[item.agency] = item.agency
            order.append(item.agency)
    lanes = {agency: Lane(agency, names[agency], 0, i) for i, agency in enumerate(order)}
    times = [_utc(item.when) for item in items]
    first, last = (min(times), max(times)) if items else (datetime.now(timezone.utc), datetime.now(timezone.utc))
    span = max(last - first, MIN_SPAN)
    start = first - span * 0.03
    end = start + span * 1.06
    usable = WIDTH - LABEL_WIDTH - RIGHT_PAD

    def x_of(moment: datetime) -> float:
        return round(LABEL_WIDTH + usable * ((_utc(moment) - start) / (end - start)), 1)

    top = TOP_PAD
    for lane in lanes.values():
        mine = sorted((i for i in items if i.agency == lane.agency), key=lambda i: (_utc(i.when), i.leaf_index))
        xs = [x_of(item.when) for item in mine]
        levels = stack_levels(xs)
        rows = max(levels, default=0) + 1
        lane.y, lane.height = top, _lane_height(lane, rows)
        first_row = top + (lane.height - rows * STACK_STEP) / 2 + STACK_STEP / 2
        lane.marks = [Mark(item, x, round(first_row + level * STACK_STEP, 1), level)
                      for item, x, level in zip(mine, xs, levels)]  # fmt: skip
        top += lane.height
    axis_y = top
    if not items:
        return Timeline(list(lanes.values()), [], axis_y + AXIS_HEIGHT, axis_y)
    months = month_starts(start, end)
    step = max(1, -(-len(months) // MAX_TICKS))  # thin long spans to at most MAX_TICKS labels
    ticks = [Tick(x_of(month), month.strftime("%b %Y"), _tick_age(born, month.date())) for month in months[::step]]
    return Timeline(list(lanes.values()), ticks, axis_y + AXIS_HEIGHT + (AGE_ROW if born else 0), axis_y)


def _tick_age(born: date | None, day: date) -> str:
    return "" if born is None else age_words(born, day).removesuffix(" old")
