"""Proportionate outputs of one child's chronology: a subject access export and an anonymised review.

Who may produce them (DOMAIN.md "Information governance"): a subject access request is answered by
the controller that holds the records, here the child's council, so a practitioner of the child's
council may produce it; an inquiry may too (it reads every child). A published review is written by
reviewers the council or an inquiry commissions, so the same two roles produce its anonymised
chronology. Neither is an emergency, so neither takes a break-glass reason: another council's
child is answered exactly as an unknown child (404, and a refused access entry). Agencies and
admins read no children (403, nothing stored). The command line acts as an inquiry, as it does
for a child's evidence bundle.

Each output is one look at the child (``read_child``), so it is one access entry (read
``subject_access`` or ``review``, naming who produced it and for which child), appended before
anything is handed back. What is redacted or pseudonymised is decided by domain/redaction.py and
domain/pseudonyms.py from what the ledger knows: the child's own identifiers and stated names,
postcodes and dates of birth (the matching profiles of the child's keys) and the names of other
subjects the ledger holds that the child's records mention, and of the records' authors (staff).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import Connection, or_, select

from api.tokens import Principal
from api.usecases.children import Admitted, ChildSelector, Look, read_child
from domain.entries import decode_entry, format_time
from domain.errors import LedgerError
from domain.pseudonyms import Case, CaseAgency, CaseEntry, Pseudonymised, pseudonymise
from domain.redaction import REFERENCE, SubjectAccessRedactor, Withheld
from projections.chronology import ChronologyEntry, chronology
from projections.chronology import agencies as chronology_agencies
from projections.identity import Child, chunks
from projections.integrity import leaves
from projections.matching import profiles

if TYPE_CHECKING:
    from api.bootstrap import Services

_EVENTS = ("concern", "amendment")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:['-][A-Za-z][a-z]+)*\b")


@dataclass(frozen=True)
class ChildFacts:
    """What the child's own records state about who the child is (the child's own data)."""

    names: tuple[str, ...]
    identifiers: tuple[str, ...]
    postcodes: tuple[str, ...]
    dates_of_birth: tuple[str, ...]


@dataclass(frozen=True)
class SubjectAccess:
    """A child's chronology as the child receives it, and what was withheld."""

    child: dict
    known: ChildFacts
    produced_at: str
    produced_by: str
    entries: list[dict]
    withheld: list[Withheld]

    def as_json(self) -> dict:
        known = {"names": list(self.known.names), "dates_of_birth": list(self.known.dates_of_birth),
                 "postcodes": list(self.known.postcodes)}  # fmt: skip
        return {"format": "safeguarding-ledger-subject-access/1", "child": self.child, "records_state": known,
                "produced_at": self.produced_at, "produced_by": self.produced_by, "entries": self.entries,
                "withheld": [item.as_json() for item in self.withheld]}  # fmt: skip


@dataclass(frozen=True)
class Review:
    """An anonymised chronology (``document``: no name, identifier, postcode or date of birth) and,
    apart, the reviewer's mapping."""

    child_id: str
    produced_at: str
    document: Pseudonymised

    def as_json(self) -> dict:
        """The published document: never the mapping."""
        return {"format": "safeguarding-ledger-review/1", "child": "Child A", "produced_at": self.produced_at,
                "entries": self.document.entries}  # fmt: skip

    def mapping_json(self) -> dict:
        return {"format": "safeguarding-ledger-review-mapping/1", "child": self.child_id,
                "produced_at": self.produced_at, "pseudonyms": self.document.mapping}  # fmt: skip


def child_facts(conn: Connection, child: Child) -> ChildFacts:
    """The child's identifiers and what the child's records state: names (with aliases), postcodes,
    dates of birth."""
    rows = conn.execute(select(profiles).where(profiles.c.key.in_(list(child.keys)))).all()
    names, postcodes, births = set(), set(), set()
    for row in rows:
        full = " ".join(part for part in (row.given_name, row.family_name) if part)
        names.update(n for n in (full, row.given_name, row.family_name) if n)
        names.update(_aliases(row.aliases))
        postcodes.update(f"{p[:-3]} {p[-3:]}" for p in (row.postcode,) if p)  # stored without its space
        births.update(d for d in (row.date_of_birth,) if d)
    identifiers = {value for item in child.identifiers for name, value in item.items() if name != "agency"}
    return ChildFacts(tuple(sorted(names)), tuple(sorted(identifiers)), tuple(sorted(postcodes)), tuple(sorted(births)))


def _aliases(stored: str) -> list[str]:
    try:
        found = json.loads(stored or "[]")
    except ValueError:
        return []
    return [alias for alias in found if isinstance(alias, str)]


def other_subjects_named(conn: Connection, child: Child, texts: list[str]) -> tuple[str, ...]:
    """Names of other subjects the ledger holds that occur in ``texts`` as capitalised words: each
    occurring given or family name and the full name. Only the words of the texts are asked about."""
    words = sorted({word for text in texts for word in _CAPITALISED.findall(text)})
    found: set[str] = set()
    own = set(child.keys)
    for part in chunks(words):
        query = select(profiles.c.key, profiles.c.given_name, profiles.c.family_name).where(
            or_(profiles.c.given_name.in_(part), profiles.c.family_name.in_(part))
        )
        for key, given, family in conn.execute(query).all():
            if key in own:
                continue
            found.update(n for n in (given, family) if n and n in words)
            if given and family:
                found.add(f"{given} {family}")
    return tuple(sorted(found))


def other_references_named(conn: Connection, child: Child, texts: list[str]) -> tuple[str, ...]:
    """Agency references in ``texts`` that are another subject's ``local_id`` (with any registered
    agency): asked about by exact key, one per reference and agency."""
    words = {word for text in texts for word in REFERENCE.findall(text)}
    agency_ids = conn.execute(select(chronology_agencies.c.agency)).scalars().all()
    wanted = [f"local:{agency}:{word}" for word in sorted(words) for agency in agency_ids]
    found: set[str] = set()
    for part in chunks(wanted):
        for key in conn.execute(select(profiles.c.key).where(profiles.c.key.in_(part))).scalars():
            if key not in child.keys:
                found.add(key.split(":", 2)[2])
    return tuple(sorted(found))


def staff_names(conn: Connection, entries: list[ChronologyEntry]) -> tuple[str, ...]:
    """The authors' names the child's records carry (``author.name``): never shown, and removed
    where the text names them. Read from the records' leaves; a leaf whose payload is not in the
    log (or not readable) names no one."""
    found: set[str] = set()
    for part in chunks([entry.leaf_index for entry in entries]):
        for (stored,) in conn.execute(select(leaves.c.entry).where(leaves.c.leaf_index.in_(part))):
            try:
                payload = json.loads(base64.b64decode(decode_entry(bytes(stored))["envelope"]["payload"]))
                name = payload["author"]["name"]
            except (LedgerError, ValueError, KeyError, TypeError):
                continue
            if isinstance(name, str):
                found.add(name)
    return tuple(sorted(found))


def _texts(entries: list[ChronologyEntry]) -> list[str]:
    return [t for e in entries for t in (e.summary, e.action_taken, e.author_role) if t]


class Outputs:
    """The subject access export and the anonymised review of one child."""

    def __init__(self, services: Services):
        self.services = services

    def _agency(self, agency_id: str) -> CaseAgency:
        info = self.services.ledger.agency(agency_id)
        return CaseAgency(agency_id, info.name, info.kind)

    def subject_access(self, principal: Principal, selector: ChildSelector) -> SubjectAccess:
        """The child's chronology for the child: every entry as recorded, other people's names and
        identifiers redacted, and what was withheld and why. One access entry (``subject_access``)."""

        def answer(conn: Connection, seen: Admitted) -> SubjectAccess:
            child = seen.current
            entries = chronology(conn, child.id)
            texts = _texts(entries)
            facts = child_facts(conn, child)
            redact = SubjectAccessRedactor(frozenset(facts.names), frozenset(facts.identifiers + facts.postcodes),
                                           frozenset(other_subjects_named(conn, child, texts)),
                                           frozenset(staff_names(conn, entries)), texts=texts,
                                           other_identifiers=frozenset(other_references_named(conn, child, texts)))  # fmt: skip
            agencies = {a: self._agency(a).name for a in dict.fromkeys(e.agency for e in entries)}
            shown = [
                {"occurred_at": e.occurred_at, "recorded_at": format_time(e.recorded_at), "agency": agencies[e.agency],
                 "category": e.category, "type": e.type, "status": e.status, "summary": redact(e.summary),
                 "action_taken": redact(e.action_taken), "author_role": redact(e.author_role)}
                for e in entries
            ]  # fmt: skip
            return SubjectAccess(child.to_dict(), facts, _now(), principal.holder or principal.role, shown, redact.withheld())

        return read_child(self.services, principal, Look(selector, None, None, "subject_access"), answer)

    def review(self, principal: Principal, selector: ChildSelector) -> Review:
        """The child's chronology with consistent pseudonyms (domain/pseudonyms.py), and the mapping
        apart. Only events (concerns and amendments) are shown: retracted entries, retractions and identity
        links are about the records, not the child's life; one access entry (``review``)."""

        def answer(conn: Connection, seen: Admitted) -> Review:
            child = seen.current
            entries = [e for e in chronology(conn, child.id) if e.status != "retracted" and e.type in _EVENTS]
            facts = child_facts(conn, child)
            case = Case(
                child_names=facts.names,
                child_identifiers=facts.identifiers,
                postcodes=facts.postcodes,
                dates_of_birth=facts.dates_of_birth,
                agencies=tuple(self._agency(a) for a in dict.fromkeys(e.agency for e in entries)),
                entries=tuple(CaseEntry(e.occurred_at, e.agency, e.category, e.type, e.status, e.summary,
                                        e.action_taken, e.author_role) for e in entries),  # fmt: skip
                other_names=other_subjects_named(conn, child, _texts(entries)) + staff_names(conn, entries),
            )
            return Review(child.id, _now(), pseudonymise(case))

        return read_child(self.services, principal, Look(selector, None, None, "review"), answer)


def _now() -> str:
    return format_time(datetime.now(timezone.utc))
