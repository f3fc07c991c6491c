"""How the web view presents what the use cases return, apart from HTML: parsing the page's query,
words and moments for people, and the timeline and table of a child's page.

Nothing here reads the ledger or decides who may see what: the router calls the use cases
(api/usecases/), which do, exactly as for the JSON API.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from urllib.parse import parse_qsl

from api.usecases.pages import KnownAs, Picture
from api.usecases.practitioners import ChronologyFilter
from api.web_timeline import MarkStyle, Timeline, TimelineItem, layout, style_of
from domain.ages import age_words
from domain.errors import InvalidPayload
from domain.records import CATEGORIES, parse_occurred_at
from domain.times import parse_date, parse_optional_instant
from projections.access import AccessRead
from projections.checkpoints import StoredCheckpoint
from projections.chronology import ChronologyEntry
from projections.identity import Child
from projections.matching import PossibleMatch
from projections.risk import Prompt

ORDERS = ("oldest", "newest")
ZOOMS = ((3, "last 3 months"), (6, "last 6 months"), (12, "last 12 months"))


def label(value: str | None) -> str:
    """A code as words for people: ``was_not_brought`` -> ``was not brought``."""
    return "" if value is None else value.replace("_", " ")


def format_when(moment: datetime | str | None, precision: str | None = None) -> str:
    """A moment for people: ``13 Jul 2026 19:05 +01:00``, ``19 Mar 2026`` for a date alone, ``about
    19 Mar 2026`` for a date its agency marked approximate (precision ``about``)."""
    if moment is None:
        return "–"
    if precision == "about":
        return f"about {format_when(moment)}"
    if isinstance(moment, str):
        if precision == "date" or len(moment) == 10:
            return date.fromisoformat(moment).strftime("%-d %b %Y")
        stamp = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        offset = stamp.strftime("%z")
        zone = "UTC" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
        return f"{stamp.strftime('%-d %b %Y %H:%M')} {zone}"
    return moment.astimezone(timezone.utc).strftime("%-d %b %Y %H:%M:%S UTC")


def parse_as_of(text: str) -> datetime | None:
    """An "as known at" moment: a browser's date-time (taken as UTC) or RFC 3339 with offset."""
    return parse_optional_instant(text.strip() or None, "as known at", browser=True)


def _parse_day(text: str, name: str) -> date | None:
    return parse_date(text, name) if text else None


@dataclass(frozen=True)
class ViewQuery:
    """What the reader asked to see: "as known at", filters, a prompt to highlight, break glass."""

    as_of: datetime | None = None
    agency: str | None = None
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    highlight: str | None = None
    break_glass: str | None = None
    order: str = "oldest"  # of the table: "newest" puts the latest event first

    @classmethod
    def parse(cls, as_of: str, agency: str, category: str, date_from: str, date_to: str, highlight: str,
              break_glass: str, order: str = "") -> ViewQuery:  # fmt: skip
        if category and category not in CATEGORIES:
            raise InvalidPayload("unknown category")
        if order and order not in ORDERS:
            raise InvalidPayload("order must be oldest or newest")
        return cls(parse_as_of(as_of), agency or None, category or None, _parse_day(date_from, "from"),
                   _parse_day(date_to, "to"), highlight or None, break_glass.strip() or None,
                   order or "oldest")  # fmt: skip

    @property
    def as_of_input(self) -> str:
        """The moment as a browser's date-time input shows it (UTC, whole seconds)."""
        return "" if self.as_of is None else self.as_of.strftime("%Y-%m-%dT%H:%M:%S")

    def query(self, **changes: object) -> dict[str, str]:
        """This view as query parameters (with some changed), for links that keep it."""
        view = replace(self, **changes)
        pairs = {"as_of": view.as_of_input, "agency": view.agency, "category": view.category,
                 "from": view.date_from and view.date_from.isoformat(), "to": view.date_to and view.date_to.isoformat(),
                 "highlight": view.highlight, "break_glass": view.break_glass,
                 "order": "newest" if view.order == "newest" else None}  # fmt: skip
        return {k: v for k, v in pairs.items() if v}

    def zooms(self, today: date) -> list[tuple[str, dict[str, str], bool]]:
        """Date-range shortcuts for the timeline and the table: the last 3, 6 or 12 months up to the
        moment shown (the "as known at" day, else today), and everything. Each with its query and
        whether it is the range shown now."""
        end = self.as_of.date() if self.as_of else today
        out = []
        for months, words in ZOOMS:
            start = _months_before(end, months)
            shown = (self.date_from, self.date_to) == (start, None)
            out.append((words, self.query(date_from=start, date_to=None), shown))
        out.append(("all dates", self.query(date_from=None, date_to=None), not (self.date_from or self.date_to)))
        return out

    @property
    def filtered(self) -> bool:
        return any((self.agency, self.category, self.date_from, self.date_to))

    @property
    def narrow(self) -> ChronologyFilter:
        return ChronologyFilter(self.agency, self.category, self.date_from, self.date_to)


def _months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day where it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass
class PageModel:
    """What a child's page template draws: the use case's picture, laid out for the view asked."""

    child: Child
    known: KnownAs
    entries: list[ChronologyEntry]
    prompts: list[Prompt]
    agency_names: dict[str, str]
    matches: list[PossibleMatch]
    reads: list[AccessRead]
    checkpoint: StoredCheckpoint | None
    all_agencies: list[tuple[str, str]]
    row_of: dict[tuple[str, str], ChronologyEntry]
    timeline: Timeline
    behind: dict[tuple[str, str], list[Prompt]] = field(default_factory=dict)
    highlighted: set[tuple[str, str]] = field(default_factory=set)
    ages: dict[int, str] = field(default_factory=dict)  # by leaf index: "4 months old"
    new: set[int] = field(default_factory=set)  # leaf indexes recorded since the reader last looked
    last_look: datetime | None = None
    born: date | None = None
    order: str = "oldest"

    @property
    def rows(self) -> list[ChronologyEntry]:
        """The table's entries in the order asked for."""
        return list(reversed(self.entries)) if self.order == "newest" else self.entries

    @staticmethod
    def style(category: str | None) -> MarkStyle:
        return style_of(category)


def _birth(picture: Picture) -> date | None:
    """The earliest date of birth the records state: ages are never later than the child could be."""
    stated = [d for d in picture.known.dates_of_birth if d]
    return date.fromisoformat(str(min(stated))[:10]) if stated else None


def _ages(entries: list[ChronologyEntry], born: date | None) -> dict[int, str]:
    """The child's age at each entry's event, on the day the agency wrote (its own offset)."""
    if born is None:
        return {}
    return {e.leaf_index: age_words(born, date.fromisoformat(e.occurred_at[:10])) for e in entries if e.occurred_at}


def page_model(picture: Picture, view: ViewQuery) -> PageModel:
    """Lay out a picture: the records behind each prompt, the highlighted prompt's records, the
    child's age at each event, what is new since the reader last looked, and the timeline with one
    lane per agency (only the filtered agency's lane when filtered)."""
    names = picture.agency_names
    born = _birth(picture)
    ages = _ages(picture.everything, born)
    seen = picture.last_look
    new = {e.leaf_index for e in picture.everything if seen is not None and e.recorded_at > seen}
    behind: dict[tuple[str, str], list[Prompt]] = {}
    highlighted: set[tuple[str, str]] = set()
    for prompt in picture.prompts:
        for record in prompt.records:
            behind.setdefault((record["agency"], record["record_id"]), []).append(prompt)
        if prompt.prompt_id == view.highlight:
            highlighted = {(r["agency"], r["record_id"]) for r in prompt.records}
    lanes = [(a, names[a]) for a in names if view.agency in (None, a)]
    timeline = layout([_timeline_item(e, highlighted, ages, new) for e in picture.entries], lanes, born)
    return PageModel(
        child=picture.child, known=picture.known, entries=picture.entries, prompts=picture.prompts,
        agency_names=names, matches=picture.matches, reads=picture.reads, checkpoint=picture.checkpoint,
        all_agencies=list(names.items()), row_of={(e.agency, e.record_id): e for e in picture.everything},
        timeline=timeline, behind=behind, highlighted=highlighted, ages=ages, new=new, last_look=seen,
        born=born, order=view.order,
    )  # fmt: skip


def _timeline_item(entry: ChronologyEntry, highlighted: set[tuple[str, str]], ages: dict[int, str],
                   new: set[int]) -> TimelineItem:  # fmt: skip
    """One mark, with everything it means in words too: when, age, category, significance, status."""
    when = entry.recorded_at if entry.occurred_at is None else parse_occurred_at(entry.occurred_at).instant
    text = entry.summary or label(entry.type)
    said = [format_when(entry.occurred_at, entry.occurred_precision) if entry.occurred_at else format_when(when)]
    if entry.leaf_index in ages:
        said.append(ages[entry.leaf_index])
    significant = " (significant)" if style_of(entry.category).significant else ""
    said.append(label(entry.category or entry.type) + significant)
    said.append(entry.status)
    if entry.leaf_index in new:
        said.append("new since you last looked")
    return TimelineItem(entry.leaf_index, entry.agency, when, entry.status,
                        f"{', '.join(said)}: {text[:120]}", (entry.agency, entry.record_id) in highlighted,
                        entry.category or entry.type, entry.leaf_index in new)  # fmt: skip


def back_query(back: str, **extra: str) -> dict[str, str]:
    """The view a form came from (its query string, as posted), plus a note of what was done."""
    keep = ("as_of", "agency", "category", "from", "to", "highlight", "order")
    kept = {k: v for k, v in parse_qsl(back) if k in keep}
    return kept | extra
