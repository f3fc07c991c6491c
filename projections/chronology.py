"""The chronology read model: every agency's records about a child, in the order things happened.

One row per record, with the identity keys it names in a side table, so a child's chronology is the
rows of the keys joined to it (projections/identity.py) and a merge or an unlink changes no row here.
Statuses are kept as moments, not flags: the first amendment and the first retraction of each
record, by their ``recorded_at``, so any view "as known at T" reads them without replaying the log.
Order (SPEC section 3): ``occurred_at`` (a date alone at the start of its day, UTC), entries without
it at their ``recorded_at``, ties by leaf index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)

from domain.agencies import Agency
from domain.entries import format_time
from domain.errors import NotFound
from domain.links import identity_keys, record_identifiers
from domain.records import Record
from projections.db import metadata
from projections.identity import Component, child_component, chunks, decode_record, from_micros, to_micros
from projections.runner import LogItem

STATUSES = ("current", "superseded", "retracted")
DEFAULT_LIMIT = 1000

agencies = Table(
    "chronology_agencies",
    metadata,
    Column("agency", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
)

entries = Table(
    "chronology_entries",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_index", BigInteger, nullable=False, unique=True),
    Column("agency", String(64), nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("agency_kind", String(32)),
    Column("type", String(16), nullable=False),
    Column("category", String(32)),
    Column("occurred_at", String(40)),  # as the agency wrote it
    Column("occurred_precision", String(9)),  # "date", "date-time", or "about" (approximate)
    Column("sort_us", BigInteger, nullable=False),  # occurred_at (a date at 00:00 UTC), else recorded_at
    Column("recorded_us", BigInteger, nullable=False),
    Column("summary", Text),
    Column("action_taken", Text),
    Column("author_role", String(200)),
    Column("local_authority", String(3)),
    Column("amends", String(128)),
    Column("date_of_birth", String(10)),  # as the record's subject states it (risk rules read it)
    Column("superseded_us", BigInteger),
    Column("superseded_by", String(128)),
    Column("retracted_us", BigInteger),
    Column("retracted_by", String(128)),
    UniqueConstraint("agency", "record_id", name="chronology_entries_record"),
)

entry_keys = Table(
    "chronology_entry_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True),
)

# How many log items the projection has seen: every stored event is the next Merkle leaf (SPEC
# section 4), so this dense counter is each entry's leaf index; tests cross-check the integrity model.
cursor = Table(
    "chronology_cursor",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("seen", BigInteger, nullable=False),
)


class ChronologyProjection:
    """Adds a row per record and moves the status moments of the records it amends or retracts."""

    name = "chronology"
    tables = (agencies, entries, entry_keys, cursor)

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        seen = conn.execute(select(cursor.c.seen).where(cursor.c.name == "log")).scalar()
        if seen is None:
            conn.execute(insert(cursor).values(name="log", seen=0))
            seen = 0
        kinds, rows, key_rows, orphans, marks = {}, [], [], [], {"amendment": [], "retraction": []}
        for offset, item in enumerate(items):
            event = item.event
            if isinstance(event, Agency.Registered):
                kinds[event.agency_id] = event.kind
            elif isinstance(event, Record.Recorded):
                payload = decode_record(event)
                at = to_micros(event.timestamp)
                occurred = payload.occurred_at
                rows.append({
                    "notification_id": item.notification_id, "leaf_index": seen + offset,
                    "agency": payload.agency, "record_id": payload.record_id, "agency_kind": None,
                    "type": payload.type, "category": payload.category,
                    "occurred_at": None if occurred is None else occurred.text,
                    "occurred_precision": None if occurred is None else "about" if payload.occurred_at_approximate
                    else "date" if occurred.date_only else "date-time",
                    "sort_us": at if occurred is None else to_micros(occurred.instant), "recorded_us": at,
                    "summary": payload.summary, "action_taken": payload.action_taken,
                    "author_role": payload.author_role, "local_authority": payload.local_authority,
                    "amends": payload.amends,
                    "date_of_birth": None if payload.subject is None or payload.subject.date_of_birth is None
                    else payload.subject.date_of_birth.isoformat(),
                    "superseded_us": None, "superseded_by": None, "retracted_us": None, "retracted_by": None,
                })  # fmt: skip
                named = identity_keys(record_identifiers(payload.subject, payload.same_child))
                key_rows.extend({"key": key, "notification_id": item.notification_id} for key in named)
                if payload.amends is not None:
                    marks[payload.type].append({"t_agency": payload.agency, "t_record": payload.amends,
                                                "at": at, "by": payload.record_id})  # fmt: skip
                    if not named:  # a retraction naming no child belongs to its target's child
                        orphans.append((item.notification_id, payload.agency, payload.amends))
        conn.execute(update(cursor).where(cursor.c.name == "log").values(seen=seen + len(items)))
        if kinds:
            conn.execute(insert(agencies), [{"agency": a, "kind": k} for a, k in kinds.items()])
        if not rows:
            return
        missing = {row["agency"] for row in rows} - set(kinds)
        for part in chunks(missing):
            query = select(agencies.c.agency, agencies.c.kind).where(agencies.c.agency.in_(part))
            kinds.update((row.agency, row.kind) for row in conn.execute(query))
        for row in rows:
            row["agency_kind"] = kinds.get(row["agency"])
        conn.execute(insert(entries), rows)
        if orphans:
            key_rows.extend(_inherited_keys(conn, orphans, rows, key_rows))
        if key_rows:
            conn.execute(insert(entry_keys), key_rows)
        for kind, at_column, by_column in (("amendment", "superseded_us", "superseded_by"),
                                           ("retraction", "retracted_us", "retracted_by")):  # fmt: skip
            if marks[kind]:
                at_col, by_col = entries.c[at_column], entries.c[by_column]
                earlier = or_(at_col.is_(None), at_col > bindparam("at"))
                conn.execute(
                    update(entries)
                    .where(entries.c.agency == bindparam("t_agency"), entries.c.record_id == bindparam("t_record"))
                    .values({at_column: case((earlier, bindparam("at")), else_=at_col),
                             by_column: case((earlier, bindparam("by")), else_=by_col)}),  # fmt: skip
                    marks[kind],
                )


def _inherited_keys(
    conn: Connection, orphans: list[tuple[int, str, str]], rows: list[dict], key_rows: list[dict]
) -> list[dict]:
    """Key rows giving each subject-less retraction the keys of the record it retracts, which the
    ledger accepted before it: in this batch (``rows``, ``key_rows``) or already stored."""
    wanted = {(agency, target) for _, agency, target in orphans}
    batch_ids = {pair: row["notification_id"] for row in rows if (pair := (row["agency"], row["record_id"])) in wanted}
    targets = set(batch_ids.values())
    batch_keys: dict[int, list[str]] = {}
    for row in key_rows:
        if row["notification_id"] in targets:
            batch_keys.setdefault(row["notification_id"], []).append(row["key"])
    found = []
    for notification_id, agency, target in orphans:
        target_id = batch_ids.get((agency, target))
        if target_id is None:
            query = select(entries.c.notification_id).where(entries.c.agency == agency, entries.c.record_id == target)
            target_id = conn.execute(query).scalar()
        inherited = batch_keys.get(target_id)
        if inherited is None:
            query = select(entry_keys.c.key).where(entry_keys.c.notification_id == target_id)
            inherited = conn.execute(query).scalars()
        batch_keys[notification_id] = list(inherited)
        found.extend({"key": key, "notification_id": notification_id} for key in batch_keys[notification_id])
    return found


# Queries ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChronologyEntry:
    """One record on a child's chronology, with its status as at the moment asked about."""

    record_id: str
    agency: str
    agency_kind: str | None
    type: str
    category: str | None
    occurred_at: str | None  # as the agency wrote it
    occurred_precision: str | None  # "date", "date-time", or "about" (the agency marked it approximate)
    recorded_at: datetime
    summary: str | None
    action_taken: str | None
    author_role: str | None
    status: str
    leaf_index: int
    amends: str | None
    local_authority: str | None
    superseded_by: str | None
    retracted_by: str | None

    def to_dict(self) -> dict:
        """The JSON shape of SPEC section 3 (times RFC 3339, UTC), with the extra fields above."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["recorded_at"] = format_time(self.recorded_at)
        return data


def status(superseded_us: int | None, retracted_us: int | None, at_us: int | None) -> str:
    """``retracted`` if a retraction was recorded by ``at_us`` (None: ever), else ``superseded`` if an
    amendment was, else ``current``."""
    if retracted_us is not None and (at_us is None or retracted_us <= at_us):
        return "retracted"
    if superseded_us is not None and (at_us is None or superseded_us <= at_us):
        return "superseded"
    return "current"


def status_at(row, at_us: int | None) -> str:
    """The status of an entries row as at ``at_us``."""
    return status(row.superseded_us, row.retracted_us, at_us)


# A child's entries recorded by a moment, built once: building a statement costs more than running it.
_NAMED = select(entry_keys.c.notification_id).where(entry_keys.c.key.in_(bindparam("keys", expanding=True)))
_ENTRIES = select(entries).where(entries.c.notification_id.in_(_NAMED), entries.c.recorded_us <= bindparam("at"))
_ORDER = (entries.c.sort_us, entries.c.leaf_index)
_IN_ORDER = _ENTRIES.order_by(*_ORDER).limit(bindparam("limit")).offset(bindparam("offset"))
_EVER = 1 << 62  # later than any moment


def entry_rows(conn: Connection, child_keys: Sequence[str], at_us: int | None, *, agency: str | None = None,
               category: str | None = None, from_us: int | None = None, to_us: int | None = None,
               limit: int | None = None, offset: int = 0) -> list:  # fmt: skip
    """The rows of records naming any of ``child_keys`` recorded by ``at_us``, in chronology order."""
    query, filters = _IN_ORDER, []
    if agency is not None:
        filters.append(entries.c.agency == agency)
    if category is not None:
        filters.append(entries.c.category == category)
    if from_us is not None:
        filters.append(entries.c.sort_us >= from_us)
    if to_us is not None:
        filters.append(entries.c.sort_us <= to_us)
    if filters:
        query = _ENTRIES.where(*filters).order_by(*_ORDER).limit(bindparam("limit")).offset(bindparam("offset"))
    values = {"keys": list(child_keys), "at": _EVER if at_us is None else at_us,
              "limit": _EVER if limit is None else limit, "offset": offset}  # fmt: skip
    return conn.execute(query, values).all()


def entry_keys_among(conn: Connection, child_keys: Sequence[str]) -> dict[int, list[str]]:
    """For each entry naming any of ``child_keys``, which of them it names (an index range scan)."""
    found: dict[int, list[str]] = {}
    for part in chunks(child_keys):
        query = select(entry_keys.c.key, entry_keys.c.notification_id).where(entry_keys.c.key.in_(part))
        for key, notification_id in conn.execute(query).all():
            found.setdefault(notification_id, []).append(key)
    return found


def to_entry(row, at_us: int | None) -> ChronologyEntry:
    """A row of ``entries`` (all its columns, in table order: unpacked by position, the hot path of
    every read) as the entry a reader sees at ``at_us``."""
    (_, leaf_index, agency, record_id, agency_kind, kind, category, occurred_at, precision, _, recorded_us,
     summary, action_taken, author_role, local_authority, amends, _, superseded_us, superseded_by,
     retracted_us, retracted_by) = row  # fmt: skip
    now = status(superseded_us, retracted_us, at_us)
    return ChronologyEntry(
        record_id, agency, agency_kind, kind, category, occurred_at, precision, from_micros(recorded_us), summary,
        action_taken, author_role, now, leaf_index, amends, local_authority,
        superseded_by if now == "superseded" else None, retracted_by if now == "retracted" else None,
    )  # fmt: skip


def _moment(value: date | datetime | None, end: bool) -> int | None:
    """A filter bound in microseconds: a date covers its whole day (UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_micros(value)
    start = datetime.combine(value, time(), timezone.utc)
    return to_micros(start + timedelta(days=1)) - 1 if end else to_micros(start)


def child_view(conn: Connection, child_id: str, as_of: datetime | None, with_facts: bool = False) -> Component | None:
    """The child's component now or as of a moment; NotFound for an id the ledger never gave, None
    for a child not yet known at ``as_of``."""
    at_us = None if as_of is None else to_micros(as_of)
    component = child_component(conn, child_id, at_us=at_us, with_facts=with_facts)
    if component is None and (as_of is None or child_component(conn, child_id) is None):
        raise NotFound(f"no child {child_id}")
    return component


def chronology(
    conn: Connection,
    child_id: str,
    *,
    as_of: datetime | None = None,
    agency: str | None = None,
    category: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> list[ChronologyEntry]:
    """A child's chronology, in order, as known at ``as_of`` (inclusive; None: now).

    Only records recorded by ``as_of`` appear, joined to the child by the identity facts in force
    then, each with its status then. ``agency`` and ``category`` filter exactly; ``date_from`` and
    ``date_to`` bound the chronology position (inclusive; a date covers its whole day, UTC).
    Raises NotFound for an unknown child id.
    """
    component = child_view(conn, child_id, as_of)
    if component is None:
        return []
    at_us = None if as_of is None else to_micros(as_of)
    rows = entry_rows(conn, component.child.keys, at_us, agency=agency, category=category,
                      from_us=_moment(date_from, False), to_us=_moment(date_to, True),
                      limit=limit, offset=offset)  # fmt: skip
    return [to_entry(row, at_us) for row in rows]


def child_local_authorities(conn: Connection, child_id: str) -> set[str]:
    """The councils (LA codes) of the child now: the ``local_authority`` of each of its current
    records (SPEC 6.2). A superseded or retracted record names no council any more, so an agency
    cannot grant a council lasting access by posting a record and withdrawing it. NotFound if unknown."""
    component = child_view(conn, child_id, None)
    query = select(entries.c.local_authority).where(
        entries.c.notification_id.in_(_NAMED), entries.c.local_authority.is_not(None),
        entries.c.superseded_us.is_(None), entries.c.retracted_us.is_(None),
    ).distinct()  # fmt: skip
    return set(conn.execute(query, {"keys": list(component.child.keys)}).scalars())
