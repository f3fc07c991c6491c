"""What a child's web page (and its print-out) shows: one look at the child, one access entry.

The page brings the chronology, the prompts with the records behind them, possible matches (for
practitioners) and who has looked (for the child's council and inquiries alike, SPEC 6.3), from the
same read models and under the same rules as the JSON API; a lookup turned away is logged and raised
exactly as there. How it is drawn (the timeline, the table) is the web adapter's business.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from api.tokens import Principal
from api.usecases.children import Admitted, ChildSelector, Look, read_child
from api.usecases.practitioners import ChronologyFilter, ShownMatch, shown_matches
from api.usecases.sharing import notes_of, shown_entries
from projections.access import AccessRead, child_ids, reads_of
from projections.checkpoints import StoredCheckpoint
from projections.chronology import ChronologyEntry, child_local_authorities, chronology
from projections.sharing import SharingNote
from projections.identity import Child
from projections.matching import profiles
from projections.risk import Prompt, risk_prompts

if TYPE_CHECKING:
    from api.bootstrap import Services


@dataclass(frozen=True)
class KnownAs:
    """What the records state about who the child is: for a person to check, never to join on."""

    title: str = "Child"
    names: tuple[str, ...] = ()
    dates_of_birth: tuple[str, ...] = ()
    councils: tuple[str, ...] = ()


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
    shared: list[SharingNote] = field(default_factory=list)  # practitioners' sharing decisions


def known_as(conn: Connection, child: Child) -> KnownAs:
    """The names and dates of birth the child's records state (most often stated name first)."""
    rows = conn.execute(select(profiles).where(profiles.c.key.in_(list(child.keys)))).all()
    names = Counter(" ".join(p for p in (r.given_name, r.family_name) if p) for r in rows)
    names.pop("", None)
    ordered = tuple(name for name, _ in names.most_common())
    births = tuple(sorted({r.date_of_birth for r in rows if r.date_of_birth}))
    councils = tuple(sorted(child_local_authorities(conn, child.id)))
    return KnownAs(ordered[0] if ordered else "Child", ordered, births, councils)


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
            child = seen.current
            names: dict[str, str] = {}

            def name_of(agency: str) -> str:
                return names.setdefault(agency, self.services.ledger.agency(agency).name)

            everything = shown_entries(principal, chronology(conn, child.id, as_of=look.as_of), name_of)
            filtered = any((narrow.agency, narrow.category, narrow.date_from, narrow.date_to))
            entries = everything if not filtered else shown_entries(principal, chronology(
                conn, child.id, as_of=look.as_of, agency=narrow.agency, category=narrow.category,
                date_from=narrow.date_from, date_to=narrow.date_to,
            ), name_of, narrow.category)  # fmt: skip
            names = {a: name_of(a) for a in dict.fromkeys(e.agency for e in everything)}
            return Picture(
                child=child,
                known=known_as(conn, child),
                everything=everything,
                entries=entries,
                prompts=risk_prompts(conn, child.id, as_of=look.as_of),
                agency_names=names,
                matches=shown_matches(conn, principal, child.id) if with_matches else [],
                reads=[] if for_print else reads_of(conn, child_ids(conn, child)),
                shared=notes_of(conn, seen, look),
            )

        if not for_print:  # who has looked, up to this moment
            self.services.writes.exclusive(self.services.runner.catch_up)
        picture = read_child(self.services, principal, look, answer)
        if for_print:
            picture.checkpoint = self.services.log.checkpoint(principal)
        return picture
