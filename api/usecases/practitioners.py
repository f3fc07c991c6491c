"""What practitioners (and, for reading, inquiries) do with a child's records: read the chronology,
the risk prompts and possible matches, record decisions on prompts, link identities, find a child.

Each read goes through ``read_child`` (need to know, one access entry per look); each act is a log
entry appended through the process's one write path, after which the read models are caught up so
the actor sees their act at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from api.tokens import Principal
from api.usecases.children import Admitted, ChildSelector, Look, acting_as, of_own_council, own_council_child, read_child
from api.usecases.permissions import authorise
from domain.decisions import DECISIONS, DecisionReceipt, record_decision
from domain.decisions import MAX_REASON as DECISION_REASON
from domain.entries import format_time
from domain.errors import Forbidden, InvalidPayload, LedgerError, NotFound
from domain.links import MAX_REASON as LINK_REASON
from domain.links import link_identities
from domain.text import check_text
from projections.chronology import agencies as agency_table
from projections.chronology import chronology
from projections.identity import Child
from projections.matching import possible_matches
from projections.risk import find_prompt, risk_prompts

if TYPE_CHECKING:
    from api.bootstrap import Services

IDENTIFIER_KINDS = ("nhs_number", "upn", "local_id")


@dataclass(frozen=True, slots=True)
class ChronologyFilter:
    """Narrowing a chronology: one agency's records, one category, a range of days, a page."""

    agency: str | None = None
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    limit: int = 1000
    offset: int = 0


def as_of_text(moment: datetime | None) -> str:
    """The moment a view reflects: the one asked for, or now (everything shown was recorded by then)."""
    return format_time(moment or datetime.now(timezone.utc))


class Practitioners:
    """The practitioner's use cases (reads are open to inquiries too)."""

    def __init__(self, services: Services):
        self.services = services

    def chronology(self, principal: Principal, look: Look, narrow: ChronologyFilter = ChronologyFilter()) -> dict:
        """A child's multi-agency chronology in the order things happened, as known at ``look.as_of``."""

        def answer(conn: Connection, seen: Admitted) -> dict:
            found = [] if seen.shown is None else chronology(
                conn, seen.shown.id, as_of=look.as_of, agency=narrow.agency, category=narrow.category,
                date_from=narrow.date_from, date_to=narrow.date_to, limit=narrow.limit, offset=narrow.offset,
            )  # fmt: skip
            return {"child": (seen.shown or seen.current).to_dict(), "as_of": as_of_text(look.as_of),
                    "entries": [entry.to_dict() for entry in found]}  # fmt: skip

        return read_child(self.services, principal, _as_view(look, "chronology"), answer)

    def risk(self, principal: Principal, look: Look) -> dict:
        """The prompts the rules raise over the child's chronology as known at ``look.as_of``."""

        def answer(conn: Connection, seen: Admitted) -> dict:
            found = [] if seen.shown is None else risk_prompts(conn, seen.shown.id, as_of=look.as_of)
            return {"child": (seen.shown or seen.current).to_dict(), "as_of": as_of_text(look.as_of),
                    "prompts": [prompt.to_dict() for prompt in found]}  # fmt: skip

        return read_child(self.services, principal, _as_view(look, "risk"), answer)

    def matches(self, principal: Principal, look: Look) -> dict:
        """Children whose demographics resemble this child's, with reasons: for a person to confirm."""

        def answer(conn: Connection, seen: Admitted) -> dict:
            found = possible_matches(conn, seen.current.id)
            return {"child": seen.current.to_dict(), "matches": [match.to_dict() for match in found]}

        return read_child(self.services, principal, _as_view(look, "possible_matches"), answer)

    def decide(
        self, principal: Principal, child_id: str, prompt_id: str, decision: str, reason: str
    ) -> DecisionReceipt:
        """Record a decision, with its reason, on a prompt raised now for a child of your council."""
        authorise(principal.role, "decide")
        if decision not in DECISIONS:
            raise InvalidPayload(f"choose one of: {', '.join(DECISIONS)}")
        if not reason or not reason.strip():
            raise InvalidPayload("give the reason for the decision: it is recorded with it")
        check_text(reason, "reason", DECISION_REASON)
        child = own_council_child(self.services, principal, child_id, "decide")
        with self.services.reader.connect() as conn:
            prompt = find_prompt(conn, child.id, prompt_id)
        if prompt is None:
            raise NotFound("that prompt is not raised for this child now; reload it and try again")

        def record() -> DecisionReceipt:
            receipt = record_decision(
                self.services.ledger, prompt_id=prompt.prompt_id, child_id=child.id, rule=prompt.rule,
                rule_version=prompt.rule_version, records=prompt.records, decision=decision, reason=reason,
                by=acting_as(principal),
            )  # fmt: skip
            self.services.runner.catch_up()
            return receipt

        return self.services.writes.exclusive(record)

    def link(self, principal: Principal, identifiers: Sequence[Mapping[str, str]], reason: str) -> dict:
        """Confirm that identifiers are one child (a log entry). At least one of them must already name
        a child of your council: a practitioner joins others to a child they may read."""
        authorise(principal.role, "link")
        items = [dict(item) for item in identifiers]
        if not reason or not reason.strip():
            raise InvalidPayload("give the reason you are sure these are the same child: it is recorded")
        check_text(reason, "reason", LINK_REASON)
        with self.services.reader.connect() as conn:
            known = [_known(conn, item) for item in items]
            if not any(child is not None and of_own_council(conn, principal, child) for child in known):
                raise Forbidden("none of these identifiers names a child known to your council")

        def record():
            receipt = link_identities(self.services.ledger, items, by=acting_as(principal), reason=reason)
            self.services.runner.catch_up()
            return receipt

        receipt = self.services.writes.exclusive(record)
        with self.services.reader.connect() as conn:
            child = ChildSelector(**_first_strong(items)).find(conn)
        return {"link_id": receipt.link_id, "recorded_at": format_time(receipt.recorded_at), "child": child.to_dict()}

    def confirm_match(self, principal: Principal, child_id: str, other_child: str, reason: str) -> dict:
        """Link a child of your council with one of its current possible matches."""
        child = own_council_child(self.services, principal, child_id, "link")
        with self.services.reader.connect() as conn:
            match = next((m for m in possible_matches(conn, child.id) if m.child.id == other_child), None)
        if match is None:
            raise NotFound("that child is not a possible match of this one any more; reload the page")
        return self.link(principal, [child.identifiers[0], match.child.identifiers[0]], reason)

    def find(
        self, principal: Principal, kind: str, value: str, agency: str | None, break_glass: str | None = None
    ) -> Child:
        """The child one identifier names, a web search: one lookup, one access entry (read
        ``search``) whatever its answer. InvalidPayload for a malformed question (nothing stored);
        turned away (``NotKnownToCouncil`` or NotFound, logged) exactly as a read of that child."""
        authorise(principal.role, "read_child")
        value = value.strip()
        if kind not in IDENTIFIER_KINDS or not value:
            raise InvalidPayload("choose an identifier and give its value")
        if kind == "local_id" and not agency:
            raise InvalidPayload("an agency's own reference needs the agency that gave it")
        if kind == "nhs_number":
            value = value.replace(" ", "")
        selector = ChildSelector(**({kind: value} | ({"agency": agency} if kind == "local_id" else {})))
        look = Look(selector, None, break_glass, "search")
        return read_child(self.services, principal, look, lambda conn, seen: seen.current)

    def agencies(self) -> list[dict]:
        """Registered agencies that have recorded something, with their names (for search forms)."""
        with self.services.reader.connect() as conn:
            ids = conn.execute(select(agency_table.c.agency).order_by(agency_table.c.agency)).scalars().all()
        return [{"agency_id": a, "name": self.services.ledger.agency(a).name} for a in ids]


def _as_view(look: Look, view: str) -> Look:
    return replace(look, view=view)


def _known(conn: Connection, identifier: dict) -> Child | None:
    """The child an identifier object names now, if any (malformed objects name none)."""
    try:
        return ChildSelector(**_first_strong(identifier)).resolve(conn)
    except LedgerError:  # an identifier object that is not a lookup names nobody: it grants nothing
        return None


def _first_strong(identifier: dict | list[dict]) -> dict:
    """The one strong identifier to look a child up by (of an object, or the first of a list)."""
    item = identifier[0] if isinstance(identifier, list) else identifier
    for name in ("nhs_number", "upn"):
        if item.get(name):
            return {name: item[name]}
    return {"local_id": item.get("local_id"), "agency": item.get("agency")}
