"""What a child's web page (and its print-out) shows: one look at the child, one access entry.

The page brings the chronology, the prompts with the records behind them, possible matches (for
practitioners) and who has looked (for the child's council and inquiries alike, SPEC 6.3), from the
same read models and under the same rules as the JSON API; a lookup turned away is logged and raised
exactly as there. How it is drawn (the timeline, the table) is the web adapter's business.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from api.tokens import Principal
from api.usecases.children import Admitted, ChildSelector, Look, read_child
from api.usecases.practitioners import ChronologyFilter, ShownMatch, shown_matches
from domain.records import parse_occurred_at
from domain.statutory import STATUTORY_CATEGORIES, StatutoryEvent, StatutoryStatus, current_statuses
from projections.access import AccessRead, child_ids, reads_of
from projections.checkpoints import StoredCheckpoint
from projections.chronology import ChronologyEntry, child_local_authorities, chronology
from projections.identity import Child, to_micros
from projections.matching import profiles
from projections.risk import Prompt, risk_prompts

if TYPE_CHECKING:
    from api.bootstrap import Services


@dataclass(frozen=True)
class KnownAs:
    """What the records state about who the child is, as known at the look's moment: for a person to
    check, never to join on. ``statuses`` are the statutory statuses in force then (domain/statutory)."""

    title: str = "Child"
    names: tuple[str, ...] = ()
    dates_of_birth: tuple[str, ...] = ()
    councils: tuple[str, ...] = ()
    statuses: tuple[StatutoryStatus, ...] = ()
    known_then: bool = True


@dataclass
class Picture:
    """Everything a child's page shows, as known at the look's moment."""

    child: Child
    known: KnownAs
    everything: list[ChronologyEntry]
    entries: list[ChronologyEntry]
    prompts: list[Prompt]
    agency_names: dict[str, str]
    matches: list[ShownMatch] = field(default_factory=list)
    reads: list[AccessRead] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None
    last_look: datetime | None = None  # the reader's own previous look at this child, if any


def known_as(conn: Connection, child: Child, entries: list[ChronologyEntry], as_of: datetime | None) -> KnownAs:
    """Who the child is as known at ``as_of`` (None: now), from the child's identifiers as joined then
    and the chronology as known then (``entries``): the names and dates of birth stated by records
    recorded by then (most often stated name first), the councils their current records name, and
    the statutory statuses in force. Nothing recorded later shows, on screen or on paper."""
    query = select(profiles).where(profiles.c.key.in_(list(child.keys)))
    if as_of is not None:  # a profile is first seen with the first record stating it
        query = query.where(profiles.c.first_seen_us <= to_micros(as_of))
    rows = conn.execute(query).all()
    names = Counter(" ".join(p for p in (r.given_name, r.family_name) if p) for r in rows)
    names.pop("", None)
    ordered = tuple(name for name, _ in names.most_common())
    births = tuple(sorted({r.date_of_birth for r in rows if r.date_of_birth}))
    if as_of is None:  # the councils that decide who may read the child now (SPEC 6.2)
        councils = child_local_authorities(conn, child.id)
    else:
        councils = {e.local_authority for e in entries if e.status == "current" and e.local_authority}
    return KnownAs(ordered[0] if ordered else "Child", ordered, births, tuple(sorted(councils)),
                   tuple(current_statuses(statutory_events(entries))))  # fmt: skip


def statutory_events(entries: list[ChronologyEntry]) -> list[StatutoryEvent]:
    """The current entries that start or end a statutory status, in the ledger's order."""
    return [
        StatutoryEvent(e.category, parse_occurred_at(e.occurred_at).instant, date.fromisoformat(e.occurred_at[:10]),
                       e.agency, e.occurred_precision == "about")
        for e in entries
        if e.status == "current" and e.category in STATUTORY_CATEGORIES and e.occurred_at is not None
    ]


def last_look(reads: list[AccessRead], principal: Principal) -> datetime | None:
    """When this reader last saw this child (an allowed look under their token, or their name in
    the same role and council), for "new since you last looked". The look being answered is not
    among ``reads``: its access entry is appended after the answer is made."""
    mine = [r.at for r in reads if r.outcome == "allowed" and (
        r.token_id == principal.token_id
        or (principal.holder is not None and (r.holder, r.role, r.local_authority)
            == (principal.holder, principal.role, principal.local_authority)))]  # fmt: skip
    return max(mine, default=None)


class Pages:
    """The web view's use cases that show a child."""

    def __init__(self, services: Services):
        self.services = services

    def child_page(
        self,
        principal: Principal,
        child_id: str,
        *,
        as_of: datetime | None = None,
        break_glass: str | None = None,
        narrow: ChronologyFilter = ChronologyFilter(),
        for_print: bool = False,
    ) -> Picture:
        """One page view (or print-out) of a child as known at ``as_of``: one access entry, appended
        before anything is handed back; the print-out names a checkpoint that covers that entry too."""
        look = Look(ChildSelector(child=child_id), as_of, break_glass, "print" if for_print else "child_page")
        with_matches = principal.role == "practitioner" and not for_print

        def answer(conn: Connection, seen: Admitted) -> Picture:
            child = seen.shown or Child(seen.current.id, ())  # as known at the look's moment
            everything = chronology(conn, child.id, as_of=look.as_of)
            filtered = any((narrow.agency, narrow.category, narrow.date_from, narrow.date_to))
            entries = everything if not filtered else chronology(
                conn, child.id, as_of=look.as_of, agency=narrow.agency, category=narrow.category,
                date_from=narrow.date_from, date_to=narrow.date_to,
            )  # fmt: skip
            names = {a: self.services.ledger.agency(a).name for a in dict.fromkeys(e.agency for e in everything)}
            reads = [] if for_print else reads_of(conn, child_ids(conn, seen.current))  # every id, up to now
            return Picture(
                child=child,
                known=known_as(conn, child, everything, look.as_of) if seen.shown else KnownAs(known_then=False),
                everything=everything,
                entries=entries,
                prompts=risk_prompts(conn, child.id, as_of=look.as_of),
                agency_names=names,
                matches=shown_matches(conn, principal, child.id, as_of=look.as_of,
                                      agency_name=self.services.practitioners.agency_name) if with_matches else [],
                reads=reads,
                last_look=last_look(reads, principal),
            )

        if not for_print:  # who has looked, up to this moment
            self.services.writes.exclusive(self.services.runner.catch_up)
        picture = read_child(self.services, principal, look, answer)
        if for_print:
            picture.checkpoint = self.services.log.checkpoint(principal)
        return picture
