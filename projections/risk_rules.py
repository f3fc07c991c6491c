"""Risk rules as data: named, versioned patterns that practice reviews keep finding (DOMAIN.md).

Each rule is a pure function over a child's chronology rows as known at a moment, with its
thresholds as data; it returns the groups of records that should be put in front of a professional.
A rule never scores or decides: its output is a prompt for review, naming the rule, its version and
the records behind it. Change what a rule does and you change its version; change a threshold with
:meth:`Rule.configured`.

Each rule carries a ``priority`` (1 first): the order a practitioner with five minutes should read
its prompts in. The non-mobile infant's injury comes first (NICE CG89: suspect maltreatment), then
the patterns reviews keep finding before serious harm, then the patterns that ask for a closer look.
Priority orders prompts; it never scores a child.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from types import MappingProxyType

from domain.errors import InvalidPayload


@dataclass(frozen=True, slots=True)
class RuleRow:
    """What rules read of one chronology entry: a current concern or amendment with a category."""

    agency: str
    record_id: str
    agency_kind: str | None
    category: str
    occurred: datetime  # UTC; a date-only entry at the start of its day
    position: int  # leaf index: breaks ties in time
    date_of_birth: date | None = None


Group = tuple[RuleRow, ...]
Finder = Callable[[Sequence[RuleRow], Mapping[str, object]], list[Group]]


@dataclass(frozen=True)
class Rule:
    """A named, versioned pattern; ``find`` gets the rows in time order and the thresholds."""

    id: str
    version: int
    title: str
    why: str
    find: Finder
    thresholds: Mapping[str, object] = field(default_factory=dict)
    priority: int = 100  # 1 is read first

    def evaluate(self, rows: Sequence[RuleRow]) -> list[Group]:
        """The groups of rows this rule puts forward for review, each in time order."""
        return self.find(sorted(rows, key=lambda r: (r.occurred, r.position)), self.thresholds)

    def configured(self, **thresholds: object) -> Rule:
        """The same rule with some thresholds changed (names must already exist)."""
        unknown = sorted(set(thresholds) - set(self.thresholds))
        if unknown:
            raise InvalidPayload(f"rule {self.id} has no thresholds {', '.join(unknown)}")
        return replace(self, thresholds=MappingProxyType({**self.thresholds, **thresholds}))


def episodes(rows: Sequence[RuleRow], days: int, qualifies: Callable[[Sequence[RuleRow]], bool]) -> list[Group]:
    """Runs of activity: every window of ``days`` starting at a row whose rows ``qualify``, with
    overlapping windows merged, so one sustained pattern is one prompt rather than many."""
    span = timedelta(days=days)
    groups: list[list[int]] = []
    end = 0
    for start, first in enumerate(rows):
        end = max(end, start)
        while end + 1 < len(rows) and rows[end + 1].occurred - first.occurred <= span:
            end += 1
        if not qualifies(rows[start : end + 1]):
            continue
        if groups and start <= groups[-1][1]:
            groups[-1][1] = end
        else:
            groups.append([start, end])
    return [tuple(rows[a : b + 1]) for a, b in groups]


def _non_mobile_infant_injury(rows: Sequence[RuleRow], t: Mapping) -> list[Group]:
    births = {r.date_of_birth for r in rows if r.date_of_birth is not None}
    found = []
    for row in rows:
        if row.category not in t["categories"]:
            continue
        for born in {row.date_of_birth} if row.date_of_birth else births:
            if 0 <= (row.occurred.date() - born).days < t["max_age_days"]:
                found.append((row,))
                break
    return found


def _multi_agency(rows: Sequence[RuleRow], t: Mapping) -> list[Group]:
    concerns = [r for r in rows if r.category not in t["ignore_categories"]]
    return episodes(concerns, t["window_days"], lambda w: len({r.agency for r in w}) >= t["min_agencies"])


def _repeated(rows: Sequence[RuleRow], t: Mapping) -> list[Group]:
    kinds = t.get("agency_kinds")
    chosen = [r for r in rows if r.category in t["categories"] and (not kinds or r.agency_kind in kinds)]
    return episodes(chosen, t["window_days"], lambda w: len(w) >= t["min_count"])


def _change_then_injury(rows: Sequence[RuleRow], t: Mapping) -> list[Group]:
    chosen = [r for r in rows if r.category in t["change_categories"] or r.category in t["injury_categories"]]
    return episodes(
        chosen,
        t["window_days"],
        lambda w: w[0].category in t["change_categories"] and any(r.category in t["injury_categories"] for r in w[1:]),
    )


def _frozen(**values: object) -> Mapping[str, object]:
    return MappingProxyType(values)


RULES: tuple[Rule, ...] = (
    Rule("non_mobile_infant_injury", 1, "Injury or bruising to a non-mobile infant",
         "Accidental bruising in babies who are not yet mobile is very rare (NICE CG89: suspect maltreatment).",
         _non_mobile_infant_injury, _frozen(max_age_days=183, categories=("physical_injury",)), priority=1),
    Rule("multi_agency_concerns", 1, "Concerns from several agencies close together",
         "Each agency's fragment can look minor alone; together they may form the picture.",
         _multi_agency, _frozen(window_days=30, min_agencies=2, ignore_categories=("routine_contact",)),
         priority=5),
    Rule("repeated_was_not_brought", 1, "Repeated missed health appointments (was not brought)",
         "A pattern of a child not being brought matters more than any single missed appointment.",
         _repeated, _frozen(window_days=90, min_count=2, categories=("was_not_brought",), agency_kinds=()),
         priority=6),
    Rule("repeated_domestic_abuse", 1, "Repeated domestic abuse incidents",
         "Risk escalates with repeated incidents, and police call-outs are often not passed on.",
         _repeated, _frozen(window_days=365, min_count=2, categories=("domestic_abuse",), agency_kinds=()),
         priority=3),
    Rule("household_change_then_injury", 1, "A change in the household followed by an injury",
         "Reviews keep finding a new adult in the household before a child was hurt.",
         _change_then_injury, _frozen(window_days=90, change_categories=("household_change",),
                                      injury_categories=("physical_injury",)), priority=2),
    Rule("repeated_injury_attendances", 1, "Repeated injury attendances at health services",
         "Repeated attendances for injury are a reason CP-IS exists.",
         _repeated, _frozen(window_days=365, min_count=3, categories=("physical_injury",), agency_kinds=("health",)),
         priority=4),
)  # fmt: skip
