"""A child's statutory status (on a child protection plan, a child in need plan, looked after) from
the statutory events on their chronology, so a reader sees at a glance what has been decided.

Each status has a start and an end category (domain/records.py). The latest event of a status
decides it, in the order things happened (ties: the order the ledger recorded them): a start means
the child is on it, an end that they are not. An end with no start before it ends nothing and is
not an error (the start may be held by an agency not on the ledger). The status counts from the
earliest start since the last end: a second start recorded by another agency does not restart it.
Pure: the caller passes the events as known at the moment shown, so "as known at" shows the
status as it stood then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

#: status -> (start category, end category, how the status reads)
STATUSES = {
    "child_protection_plan": ("child_protection_plan_start", "child_protection_plan_end", "On a child protection plan"),
    "child_in_need_plan": ("child_in_need_plan_start", "child_in_need_plan_end", "On a child in need plan"),
    "looked_after": ("looked_after_start", "looked_after_end", "Looked after"),
}
#: Categories that record a statutory event without starting or ending a status.
EVENTS = ("strategy_discussion", "section_47_enquiry", "initial_cp_conference", "review_cp_conference")
STATUTORY_CATEGORIES = EVENTS + tuple(c for start, end, _ in STATUSES.values() for c in (start, end))
_CHANGES = {c: (status, c == start) for status, (start, end, _) in STATUSES.items() for c in (start, end)}


@dataclass(frozen=True, slots=True)
class StatutoryEvent:
    """One current chronology entry as the status reads it: its category, when it happened (an
    instant to order by, and the day as the agency wrote it), the agency that recorded it, and
    whether the agency marked the date approximate."""

    category: str
    occurred: datetime
    day: date
    agency: str
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class StatutoryStatus:
    """A status in force: which, since when (the event that started it), and what it reads as."""

    status: str
    since: StatutoryEvent

    @property
    def wording(self) -> str:
        return STATUSES[self.status][2]


def current_statuses(events: Iterable[StatutoryEvent]) -> list[StatutoryStatus]:
    """The statuses in force after ``events`` (given in the order the ledger recorded them; events
    of other categories are ignored), in the order of ``STATUSES``."""
    since: dict[str, StatutoryEvent | None] = {}
    for event in sorted((e for e in events if e.category in _CHANGES), key=lambda e: e.occurred):
        status, starts = _CHANGES[event.category]
        if not starts:
            since[status] = None
        elif since.get(status) is None:
            since[status] = event
    return [StatutoryStatus(status, start) for status in STATUSES if (start := since.get(status)) is not None]
