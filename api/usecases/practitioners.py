"""What practitioners (and, for reading, inquiries) do with a child's records: read the chronology,
the risk prompts and possible matches, record decisions on prompts, link identities, find a child.

Each read goes through ``read_child`` (need to know, one access entry per look); each act is a log
entry appended through the process's one write path, after which the read models are caught up so
the actor sees their act at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from api.tokens import Principal
from api.usecases.children import (
    Admitted,
    ChildSelector,
    Look,
    acting_as,
    of_own_council,
    own_council_child,
    read_child,
    record_lookup,
)
from api.usecases.child_search import MAX_CANDIDATES, NameQuery, NameSearchAnswer, check_digit
from api.usecases.permissions import authorise
from domain.access import MAX_REASON as MAX_BREAK_GLASS
from domain.access import log_access
from domain.decisions import DECISIONS, DecisionReceipt, record_decision
from domain.decisions import MAX_REASON as DECISION_REASON
from domain.entries import format_time
from domain.errors import Forbidden, InvalidPayload, LedgerError, MalformedRequest, NotFound
from domain.links import MAX_REASON as LINK_REASON
from domain.links import link_identities
from domain.text import check_query_text, check_text
from projections.chronology import agencies as agency_table
from projections.chronology import chronology
from projections.identity import Child
from projections.matching import children_by_name, possible_matches
from projections.notifications import council_notifications
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
        """Children whose demographics resemble this child's as known at ``look.as_of``, with reasons
        and their latest records: for a person to confirm. A match the caller may not read is shown
        only as existing (``restricted``), with nothing of it."""

        def answer(conn: Connection, seen: Admitted) -> dict:
            found = [] if seen.shown is None else shown_matches(
                conn, principal, seen.shown.id, as_of=look.as_of, agency_name=self.agency_name)
            return {"child": (seen.shown or seen.current).to_dict(), "matches": [match.to_dict() for match in found]}

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

    def link(self, principal: Principal, identifiers: Sequence[Mapping[str, str]], reason: str,
             break_glass: str | None = None) -> dict:  # fmt: skip
        """Confirm that identifiers are one child (a log entry). At least one of them must already name
        a child of your council, and every child they name must be one your council may read: joining a
        child of another council needs a ``break_glass`` reason, like reading it, and each such child
        gets a flagged access entry (read ``link``) with the reason. The answer names the child as now
        joined, without the identifiers of any child your council could not read before."""
        authorise(principal.role, "link")
        items = [dict(item) for item in identifiers]
        if not reason or not reason.strip():
            raise InvalidPayload("give the reason you are sure these are the same child: it is recorded")
        check_text(reason, "reason", LINK_REASON)
        if break_glass is not None:  # a question's text: refused as asked (400), before anything is read
            check_query_text(break_glass, "break_glass", MAX_BREAK_GLASS, single_line=False)
        with self.services.reader.connect() as conn:
            known = [(item, _known(conn, item)) for item in items]
            readable = {child.id for _, child in known if child is not None and of_own_council(conn, principal, child)}
        if not readable:
            raise Forbidden("none of these identifiers names a child known to your council")
        outside = {child.id: (item, child) for item, child in known if child is not None and child.id not in readable}
        if outside and break_glass is None:
            raise Forbidden("an identifier names a child your council may not read; "
                                 "give break_glass=<reason> if you must link it")  # fmt: skip

        def record():
            receipt = link_identities(self.services.ledger, items, by=acting_as(principal), reason=reason)
            for item, child in outside.values():
                log_access(
                    self.services.ledger, token_id=principal.token_id, role=principal.role, agency=principal.agency,
                    local_authority=principal.local_authority, child=child.id, read="link",
                    query=ChildSelector(**_first_strong(item)).as_query(), break_glass=True, reason=break_glass,
                )  # fmt: skip
            self.services.runner.catch_up()
            return receipt

        receipt = self.services.writes.exclusive(record)
        withheld = {key for _, child in outside.values() for key in child.keys}
        with self.services.reader.connect() as conn:
            child = ChildSelector(**_first_strong(next(item for item, c in known if c and c.id in readable))).find(conn)
        shown = Child(child.id, tuple(key for key in child.keys if key not in withheld))
        return {"link_id": receipt.link_id, "recorded_at": format_time(receipt.recorded_at),
                "child": shown.to_dict(), "break_glass": bool(outside)}  # fmt: skip

    def confirm_match(
        self, principal: Principal, child_id: str, other_child: str, reason: str, break_glass: str | None = None
    ) -> dict:
        """Link a child of your council with one of its current possible matches (a match in another
        council only with a ``break_glass`` reason, as ``link`` says)."""
        child = own_council_child(self.services, principal, child_id, "link")
        with self.services.reader.connect() as conn:
            match = next((m for m in possible_matches(conn, child.id) if m.child.id == other_child), None)
        if match is None:
            raise NotFound("that child is not a possible match of this one any more; reload the page")
        return self.link(principal, [child.identifiers[0], match.child.identifiers[0]], reason, break_glass)

    def notifications(self, principal: Principal, limit: int = 100, offset: int = 0) -> dict:
        """What the practitioner's council has been told, newest first: records that gave its children
        another council, links joining its children with another council's, and break-glass reads of
        its children (SPEC 6.2, 6.3). Brought up to date first, so a read just made is listed."""
        authorise(principal.role, "read_notifications")
        if not 1 <= limit <= 1000 or offset < 0:
            raise MalformedRequest("limit is 1 to 1000 and offset at least 0")
        self.services.writes.exclusive(lambda: self.services.runner.catch_up(require=("notifications",)))
        with self.services.reader.connect() as conn:
            found = council_notifications(conn, principal.local_authority, limit=limit, offset=offset)
        return {"council": principal.local_authority, "limit": limit, "offset": offset,
                "notifications": [notification.to_dict() for notification in found]}  # fmt: skip

    def find(
        self, principal: Principal, kind: str, value: str, agency: str | None, break_glass: str | None = None
    ) -> Child:
        """The child one identifier names, a web search: one lookup, one access entry (read
        ``search``) whatever its answer. InvalidPayload for a malformed question, such as an NHS
        number or UPN that fails its check digit (nothing stored: no record can name one);
        turned away (``NotKnownToCouncil`` or NotFound, logged) exactly as a read of that child."""
        authorise(principal.role, "read_child")
        value = value.strip()
        if kind not in IDENTIFIER_KINDS or not value:
            raise InvalidPayload("choose an identifier and give its value")
        if kind == "local_id" and not agency:
            raise InvalidPayload("an agency's own reference needs the agency that gave it")
        if kind == "nhs_number":
            value = value.replace(" ", "")
        check_digit(kind, value)
        selector = ChildSelector(**({kind: value} | ({"agency": agency} if kind == "local_id" else {})))
        look = Look(selector, None, break_glass, "search")
        return read_child(self.services, principal, look, lambda conn, seen: seen.current)

    def search(self, principal: Principal, query: NameQuery) -> NameSearchAnswer:
        """Children the reader may see whose records state the date of birth and a name like the one
        asked, most similar first, each with why it matched.

        Every search is on the record (SPEC 6.3), with its terms as the identifier searches keep
        theirs, so an inquiry can tell who searched for whom: one access entry (read ``search``) for
        each candidate shown, naming the child; one ``refused`` entry for each candidate of another
        council (the answer does not show them: an oracle otherwise, SPEC 6.2); one ``not_found``
        entry when there is neither. Terms go to the ledger only, never to a log line."""
        authorise(principal.role, "read_child")
        with self.services.reader.connect() as conn:
            found = children_by_name(conn, date_of_birth=query.date_of_birth.isoformat(),
                                     given_name=query.given_name, family_name=query.family_name)  # fmt: skip
            inside = [of_own_council(conn, principal, candidate.child) for candidate in found]
        shown = [c for c, ok in zip(found, inside, strict=True) if ok]
        terms = query.as_query()
        for candidate in shown[:MAX_CANDIDATES]:
            record_lookup(self.services, principal, read="search", query=terms, child=candidate.child.id)
        for candidate in (c for c, ok in zip(found, inside, strict=True) if not ok):
            record_lookup(self.services, principal, read="search", query=terms, child=candidate.child.id,
                          outcome="refused")  # fmt: skip
        if not found:
            record_lookup(self.services, principal, read="search", query=terms, outcome="not_found")
        return NameSearchAnswer(query, tuple(shown[:MAX_CANDIDATES]), len(shown) > MAX_CANDIDATES)

    def agency_name(self, agency_id: str) -> str:
        """An agency's registered name, for people (its id if it is not registered)."""
        try:
            return self.services.ledger.agency(agency_id).name
        except NotFound:
            return agency_id

    def agencies(self) -> list[dict]:
        """Registered agencies that have recorded something, with their names (for search forms)."""
        with self.services.reader.connect() as conn:
            ids = conn.execute(select(agency_table.c.agency).order_by(agency_table.c.agency)).scalars().all()
        return [{"agency_id": a, "name": self.services.ledger.agency(a).name} for a in ids]


#: How many of a possible match's records its summary shows (the latest), to judge it by.
MATCH_RECORDS = 5


@dataclass(frozen=True, slots=True)
class ShownMatch:
    """A possible match as a reader may see it: in full, with its latest records (date, agency name,
    category, summary) to judge it by, or, for a child the reader may not read, only that it exists
    (its id, to ask for it with break glass)."""

    child: Child
    similarity: float | None
    reasons: tuple[str, ...]
    restricted: bool
    records: tuple[dict, ...] = ()
    more_records: int = 0

    def to_dict(self) -> dict:
        return {"child": self.child.to_dict(), "similarity": self.similarity, "reasons": list(self.reasons),
                "restricted": self.restricted, "records": [dict(r) for r in self.records],
                "more_records": self.more_records}  # fmt: skip


def shown_matches(
    conn: Connection,
    principal: Principal,
    child_id: str,
    *,
    as_of: datetime | None = None,
    agency_name: Callable[[str], str] | None = None,
) -> list[ShownMatch]:
    """The child's possible matches for this reader as known at ``as_of`` (None: now): those it may
    read in full, most similar first, each with its latest records as known then; then those of
    other councils, by id, with no identifier, name, date of birth, record or reason (a reason
    quotes the other child's name) and in no order that hints at how alike they are. ``agency_name``
    names an agency id for people (the id itself when not given)."""
    shown, restricted = [], []
    for match in possible_matches(conn, child_id, as_of=as_of):
        if of_own_council(conn, principal, match.child):
            records = chronology(conn, match.child.id, as_of=as_of)
            latest = tuple(_match_record(entry, agency_name) for entry in reversed(records[-MATCH_RECORDS:]))
            shown.append(ShownMatch(match.child, round(match.similarity, 3), match.reasons, False, latest,
                                    max(0, len(records) - MATCH_RECORDS)))  # fmt: skip
        else:
            restricted.append(ShownMatch(Child(match.child.id, ()), None, (), True))
    return shown + sorted(restricted, key=lambda m: m.child.id)


def _match_record(entry, agency_name: Callable[[str], str] | None) -> dict:
    return {"agency": entry.agency, "agency_name": agency_name(entry.agency) if agency_name else entry.agency,
            "record_id": entry.record_id, "type": entry.type, "category": entry.category,
            "occurred_at": entry.occurred_at, "recorded_at": format_time(entry.recorded_at), "summary": entry.summary,
            "status": entry.status, "leaf_index": entry.leaf_index}  # fmt: skip


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
