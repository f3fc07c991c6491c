"""What the web view's pages show and do, apart from HTML: the router stays a few lines a page.

The reads and commands here are the ones the JSON API uses (projections for reading, domain
commands for writing, ``log_access`` for every look at a child), so the browser sees exactly what
an API client would, under the same rules: a practitioner sees the children of their council, or
another council's child only with a break-glass reason, which is recorded and flagged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from urllib.parse import parse_qsl

from sqlalchemy import Connection, select

from api.bootstrap import Services
from api.ingest import GroupCommit
from api.tokens import Principal
from api.web_timeline import Timeline, TimelineItem, layout
from domain.access import log_access
from domain.checkpoint import verify_checkpoint
from domain.decisions import DECISIONS, record_decision
from domain.errors import InvalidPayload, LedgerError, NotFound, ProofError
from domain.links import link_identities
from domain.records import CATEGORIES, parse_occurred_at
from projections.access import AccessRead, reads_of
from projections.checkpoints import StoredCheckpoint, latest_checkpoint
from projections.chronology import ChronologyEntry, agencies as agency_table, child_local_authorities, chronology
from projections.identity import Child, keys as identity_keys, resolve_child
from projections.integrity import root_hash, tree_size
from projections.matching import PossibleMatch, possible_matches, profiles
from projections.risk import Prompt, find_prompt, risk_prompts

_AS_OF = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII)
IDENTIFIER_KINDS = ("nhs_number", "upn", "local_id")


class NotAllowed(Exception):
    """The signed-in role or council may not do this (a 403 page)."""


def label(value: str | None) -> str:
    """A code as words for people: ``was_not_brought`` -> ``was not brought``."""
    return "" if value is None else value.replace("_", " ")


def format_when(moment: datetime | str | None, precision: str | None = None) -> str:
    """A moment for people: ``13 Jul 2026 19:05 +01:00``, or ``19 Mar 2026`` for a date alone."""
    if moment is None:
        return "–"
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
    if not text:
        return None
    match = _AS_OF.fullmatch(text.strip())
    if match is None:
        raise InvalidPayload("as known at must be a date and time, like 2026-11-03T09:00:00")
    day, minutes, seconds, _, zone = match.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{minutes}{seconds or ':00'}{'+00:00' if zone in (None, 'Z') else zone}")
    except ValueError:
        raise InvalidPayload("as known at is not a real date and time") from None
    return moment.astimezone(timezone.utc)


def _parse_day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidPayload(f"{name} must be a date, YYYY-MM-DD") from None


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

    @classmethod
    def parse(cls, as_of: str, agency: str, category: str, date_from: str, date_to: str, highlight: str,
              break_glass: str) -> ViewQuery:  # fmt: skip
        if category and category not in CATEGORIES:
            raise InvalidPayload("unknown category")
        return cls(parse_as_of(as_of), agency or None, category or None, _parse_day(date_from, "from"),
                   _parse_day(date_to, "to"), highlight or None, break_glass.strip() or None)  # fmt: skip

    @property
    def as_of_input(self) -> str:
        """The moment as a browser's date-time input shows it (UTC, whole seconds)."""
        return "" if self.as_of is None else self.as_of.strftime("%Y-%m-%dT%H:%M:%S")

    def query(self, **changes: object) -> dict[str, str]:
        """This view as query parameters (with some changed), for links that keep it."""
        view = replace(self, **changes)
        pairs = {"as_of": view.as_of_input, "agency": view.agency, "category": view.category,
                 "from": view.date_from and view.date_from.isoformat(), "to": view.date_to and view.date_to.isoformat(),
                 "highlight": view.highlight, "break_glass": view.break_glass}  # fmt: skip
        return {k: v for k, v in pairs.items() if v}

    @property
    def filtered(self) -> bool:
        return any((self.agency, self.category, self.date_from, self.date_to))


@dataclass(frozen=True)
class KnownAs:
    """What the records state about who the child is: for a person to check, never to join on."""

    title: str = "Child"
    names: tuple[str, ...] = ()
    dates_of_birth: tuple[str, ...] = ()
    councils: tuple[str, ...] = ()


def known_as(conn: Connection, child: Child) -> KnownAs:
    """The names and dates of birth the child's records state (most often stated name first)."""
    rows = conn.execute(select(profiles).where(profiles.c.key.in_(list(child.keys)))).all()
    names = Counter(" ".join(p for p in (r.given_name, r.family_name) if p) for r in rows)
    names.pop("", None)
    ordered = tuple(name for name, _ in names.most_common())
    births = tuple(sorted({r.date_of_birth for r in rows if r.date_of_birth}))
    councils = tuple(sorted(child_local_authorities(conn, child.id)))
    return KnownAs(ordered[0] if ordered else "Child", ordered, births, councils)


@dataclass
class Picture:
    """Everything a child's page shows; ``refused`` when a practitioner needs to break glass."""

    child: Child | None = None
    refused: bool = False
    known: KnownAs = field(default_factory=KnownAs)
    entries: list[ChronologyEntry] = field(default_factory=list)
    row_of: dict[tuple[str, str], ChronologyEntry] = field(default_factory=dict)
    all_agencies: list[tuple[str, str]] = field(default_factory=list)
    agency_names: dict[str, str] = field(default_factory=dict)
    timeline: Timeline | None = None
    prompts: list[Prompt] = field(default_factory=list)
    behind: dict[tuple[str, str], list[Prompt]] = field(default_factory=dict)
    highlighted: set[tuple[str, str]] = field(default_factory=set)
    matches: list[PossibleMatch] = field(default_factory=list)
    reads: list[AccessRead] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None


def agencies(services: Services) -> list[dict]:
    """Registered agencies with their names, for the search form's agency list."""
    with services.reader.connect() as conn:
        ids = conn.execute(select(agency_table.c.agency).order_by(agency_table.c.agency)).scalars().all()
    return [{"agency_id": a, "name": services.ledger.agency(a).name} for a in ids]


def find_child(services: Services, kind: str, value: str, agency: str | None) -> Child | None:
    """The child one identifier names, or None; InvalidPayload for a malformed question."""
    if kind not in IDENTIFIER_KINDS or not value:
        raise InvalidPayload("choose an identifier and give its value")
    if kind == "local_id" and not agency:
        raise InvalidPayload("an agency's own reference needs the agency that gave it")
    if kind == "nhs_number":
        value = value.replace(" ", "")
    selector = {kind: value} | ({"agency": agency} if kind == "local_id" else {})
    with services.reader.connect() as conn:
        return resolve_child(conn, **selector)


def _by(principal: Principal) -> str:
    """How a practitioner's act names them in the log, as the JSON API names them: role, token id
    (never the secret) and council."""
    return f"{principal.role} token {principal.token_id} (local authority {principal.local_authority})"


def _admit(
    services: Services, principal: Principal, child_id: str, break_glass: str | None
) -> tuple[Child | None, bool]:
    """The child if this reader may see it, and whether only a break-glass reason lets them.

    None when a practitioner of another council gave no reason; NotFound for an unknown child.
    """
    with services.reader.connect() as conn:
        child = resolve_child(conn, child=child_id)
        if child is None:
            raise NotFound(f"no child {child_id}")
        councils = child_local_authorities(conn, child.id)
    outside = principal.role == "practitioner" and principal.local_authority not in councils
    if outside and not break_glass:
        return None, True
    return child, outside


def _own_council_child(services: Services, principal: Principal, child_id: str) -> Child:
    """The child, for a practitioner acting on it: only a child of their own council."""
    if principal.role != "practitioner":
        raise NotAllowed("only practitioners record decisions and links")
    child, outside = _admit(services, principal, child_id, None)
    if child is None or outside:
        raise NotAllowed("this child is not known to your council")
    return child


def child_picture(services: Services, writes: GroupCommit, principal: Principal, child_id: str, view: ViewQuery,
                  for_print: bool = False) -> Picture:  # fmt: skip
    """The child's chronology, prompts, matches and (for inquiries) reads, after logging the look.

    The access entries are appended (through the process's one write path) before anything is read
    for the page, so a page is never shown without its look being in the log.
    """
    child, glass = _admit(services, principal, child_id, view.break_glass)
    if child is None:
        return Picture(refused=True)
    matches = principal.role == "practitioner" and not for_print
    reads = ["chronology", "risk"] + (["possible_matches"] if matches else [])
    with services.reader.connect() as conn:
        shown = child if view.as_of is None else resolve_child(conn, child=child.id, as_of=view.as_of)

    def log_reads() -> None:
        for read in reads:
            log_access(services.ledger, token_id=principal.token_id, role=principal.role, child=(shown or child).id,
                       read=read, query={"child": child_id}, agency=principal.agency,
                       local_authority=principal.local_authority, as_of=view.as_of, break_glass=glass,
                       reason=view.break_glass if glass else None)  # fmt: skip
        services.runner.catch_up()

    writes.exclusive(log_reads)
    picture = Picture(child)
    with services.reader.connect() as conn:
        everything = chronology(conn, child.id, as_of=view.as_of)
        picture.entries = chronology(conn, child.id, as_of=view.as_of, agency=view.agency, category=view.category,
                                     date_from=view.date_from, date_to=view.date_to)  # fmt: skip
        picture.prompts = risk_prompts(conn, child.id, as_of=view.as_of)
        picture.known = known_as(conn, child)
        if "possible_matches" in reads:
            picture.matches = possible_matches(conn, child.id)
        if principal.role == "inquiry":
            picture.reads = reads_of(conn, _child_ids(conn, child))
    names = {a: services.ledger.agency(a).name for a in dict.fromkeys(e.agency for e in everything)}
    picture.agency_names = names
    picture.row_of = {(e.agency, e.record_id): e for e in everything}
    picture.all_agencies = list(names.items())
    for prompt in picture.prompts:
        for record in prompt.records:
            picture.behind.setdefault((record["agency"], record["record_id"]), []).append(prompt)
        if prompt.prompt_id == view.highlight:
            picture.highlighted = {(r["agency"], r["record_id"]) for r in prompt.records}
    lanes = [(a, names[a]) for a in names if view.agency in (None, a)]
    picture.timeline = layout([_timeline_item(e, picture.highlighted) for e in picture.entries], lanes)
    if for_print:
        picture.checkpoint = services.checkpoint()
    return picture


def _child_ids(conn: Connection, child: Child) -> list[str]:
    """Every id the child has been known by: the id each of its identifiers gave at first sight."""
    query = select(identity_keys.c.own_id).where(identity_keys.c.key.in_(list(child.keys)))
    return sorted(set(conn.execute(query).scalars()) | {child.id})


def _timeline_item(entry: ChronologyEntry, highlighted: set[tuple[str, str]]) -> TimelineItem:
    when = entry.recorded_at if entry.occurred_at is None else parse_occurred_at(entry.occurred_at).instant
    text = entry.summary or label(entry.type)
    return TimelineItem(entry.leaf_index, entry.agency, when, entry.status,
                        f"{label(entry.category or entry.type)}: {text[:120]}",
                        (entry.agency, entry.record_id) in highlighted)  # fmt: skip


def decide(services: Services, writes: GroupCommit, principal: Principal, child_id: str, prompt_id: str,
           decision: str, reason: str) -> None:  # fmt: skip
    """Record a practitioner's decision on one of the child's prompts as raised now."""
    child = _own_council_child(services, principal, child_id)
    if decision not in DECISIONS:
        raise InvalidPayload(f"choose one of: {', '.join(DECISIONS)}")
    if not reason:
        raise InvalidPayload("give the reason for the decision: it is recorded with it")
    with services.reader.connect() as conn:
        prompt = find_prompt(conn, child.id, prompt_id)
    if prompt is None:
        raise NotFound("that prompt is no longer raised for this child; reload the page")

    def record() -> None:
        record_decision(services.ledger, prompt_id=prompt.prompt_id, child_id=child.id, rule=prompt.rule,
                        rule_version=prompt.rule_version, records=prompt.records, decision=decision, reason=reason,
                        by=_by(principal))  # fmt: skip
        services.runner.catch_up()

    writes.exclusive(record)


def confirm_link(services: Services, writes: GroupCommit, principal: Principal, child_id: str, other_child: str,
                 reason: str) -> None:  # fmt: skip
    """Link the child with one of its possible matches: a recorded, attributable act."""
    child = _own_council_child(services, principal, child_id)
    if not reason:
        raise InvalidPayload("give the reason you are sure these are the same child: it is recorded")
    with services.reader.connect() as conn:
        match = next((m for m in possible_matches(conn, child.id) if m.child.id == other_child), None)
    if match is None:
        raise NotFound("that child is not a possible match of this one any more; reload the page")

    def record() -> None:
        link_identities(services.ledger, [child.identifiers[0], match.child.identifiers[0]], by=_by(principal),
                        reason=reason)  # fmt: skip
        services.runner.catch_up()

    writes.exclusive(record)


@dataclass(frozen=True)
class LogState:
    """The log as an inquiry sees it at a glance, and whether its latest checkpoint checks."""

    size: int
    checkpoint: StoredCheckpoint | None
    verified: bool
    detail: str


def log_state(services: Services) -> LogState:
    """Tree size and latest checkpoint; verified when the checkpoint's signature holds under the
    ledger's key and its root equals the root recomputed from the stored tree at that size."""
    with services.reader.connect() as conn:
        size = tree_size(conn)
        checkpoint = latest_checkpoint(conn)
        if checkpoint is None:
            return LogState(size, None, False, "no checkpoint has been signed yet")
        try:
            signed = verify_checkpoint(checkpoint.note, services.signer.verifier)
            recomputed = root_hash(conn, signed.size)
        except (ProofError, LedgerError, LookupError) as exc:
            return LogState(size, checkpoint, False, f"the checkpoint does not verify: {exc}")
    if recomputed != signed.root:
        return LogState(size, checkpoint, False, "the checkpoint's root differs from the stored tree's root")
    return LogState(size, checkpoint, True, "signature valid; root matches the stored tree at that size")


def back_query(back: str, **extra: str) -> dict[str, str]:
    """The view a form came from (its query string, as posted), plus a note of what was done."""
    kept = {k: v for k, v in parse_qsl(back) if k in ("as_of", "agency", "category", "from", "to", "highlight")}
    return kept | extra
