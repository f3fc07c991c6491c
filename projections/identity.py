"""The identity read model: which identity keys are one child, now and as at any moment.

Identity keys are the strong identifiers of domain/identifiers.py (``nhs:``, ``upn:``,
``local:<agency>:``). A *fact* joins keys: a record naming several identifiers (an ``identity_link``
record's ``same_child``, or a subject with more than one) or a practitioner's link (domain/links.py).
A fact stops joining once withdrawn: by an amendment or retraction of its record, or an unlink. A
child is a connected component of keys under the facts in force; its id is the id given to its
earliest key at first sight, so when children merge the older id stays, and every id ever shown
still resolves through the key that owns it. The current components are kept as a flattened
union-find (``cluster_id`` per key); a component as at an earlier moment is found by walking the facts
in force then. Demographics never join anything: projections/matching.py only suggests.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)

from domain.errors import InvalidPayload
from domain.identifiers import ChildIdentifiers
from domain.links import IdentityLink, RecordLinkWithdrawal, identity_keys, record_identifiers
from domain.records import Record, RecordPayload, parse_payload, record_aggregate_id
from projections.db import metadata
from projections.runner import LogItem

CHILD_NAMESPACE = uuid.UUID("5e2a9c14-7b3d-5f08-a6e1-9d4c2b7f3a58")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHUNK = 500

keys = Table(
    "identity_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("own_id", String(36), nullable=False, unique=True),  # the child id this key gave at first sight
    Column("seq", BigInteger, nullable=False, unique=True),  # first-sight order: notification id * 1024 + ordinal
    Column("first_seen_us", BigInteger, nullable=False),
    Column("cluster_id", String(36), nullable=False, index=True),  # the current child id
)

facts = Table(
    "identity_facts",
    metadata,
    Column("fact_id", String(36), primary_key=True),  # the record's or the practitioner link's aggregate id
    Column("source", String(16), nullable=False),  # "record" or "practitioner"
    Column("agency", String(128)),
    Column("record_id", String(128)),
    Column("linked_by", String(200)),
    Column("reason", Text),
    Column("notification_id", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("withdrawn_us", BigInteger),
)

fact_keys = Table(
    "identity_fact_keys",
    metadata,
    Column("fact_id", String(36), primary_key=True),
    Column("key", String(255), primary_key=True),
    Index("identity_fact_keys_key", "key"),
)


# Time and payload helpers shared by the child-centred read models ---------------------------------


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    """The UTC datetime of a microsecond count."""
    return EPOCH + timedelta(microseconds=micros)


@lru_cache(maxsize=4096)
def _parse(payload: str) -> RecordPayload:
    return parse_payload(json.loads(base64.b64decode(payload)))


def decode_record(event: Record.Recorded) -> RecordPayload:
    """The validated payload of a stored record (cached: several projections read each record)."""
    return _parse(event.payload)


def key_identifier(key: str) -> dict:
    """The identifier object an identity key stands for."""
    kind, _, value = key.partition(":")
    if kind == "local":
        agency, _, local_id = value.partition(":")
        return {"agency": agency, "local_id": local_id}
    return {"nhs_number" if kind == "nhs" else "upn": value}


def chunks(values: Iterable, size: int = CHUNK) -> Iterable[list]:
    """Split values into lists of at most ``size`` (bounded IN lists)."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


# The projection -----------------------------------------------------------------------------------


@dataclass
class _Batch:
    """What one batch of log items says about identity, gathered before any SQL."""

    first_seen: dict[str, tuple[int, int]]  # key -> (seq, first_seen_us), first sight within the batch
    facts: list[dict]
    fact_keys: list[dict]
    withdrawals: list[dict]

    def fact(self, fact_id: str, item: LogItem, fact_key_list: Sequence[str], **fields: str | None) -> None:
        at = to_micros(item.event.timestamp)
        for ordinal, key in enumerate(fact_key_list):
            self.first_seen.setdefault(key, (item.notification_id * 1024 + ordinal, at))
        if len(fact_key_list) < 2:
            return  # a single key joins nothing; the key is known, no fact needed
        self.facts.append({"fact_id": fact_id, "notification_id": item.notification_id, "recorded_us": at,
                           "withdrawn_us": None, "agency": None, "record_id": None, "linked_by": None,
                           "reason": None, **fields})  # fmt: skip
        self.fact_keys.extend({"fact_id": fact_id, "key": key} for key in fact_key_list)

    def withdraw(self, fact_id: str, item: LogItem) -> None:
        self.withdrawals.append({"target": fact_id, "at": to_micros(item.event.timestamp)})


class IdentityProjection:
    """Keeps identity keys, the facts joining them, and each key's current child."""

    name = "identity"
    tables = (keys, facts, fact_keys)

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        batch = _Batch({}, [], [], [])
        for item in items:
            event = item.event
            if isinstance(event, Record.Recorded):
                payload = decode_record(event)
                if payload.amends is not None:
                    batch.withdraw(str(record_aggregate_id(payload.agency, payload.amends)), item)
                named = identity_keys(record_identifiers(payload.subject, payload.same_child))
                batch.fact(str(event.originator_id), item, named, source="record",
                           agency=payload.agency, record_id=payload.record_id)  # fmt: skip
            elif isinstance(event, IdentityLink.Linked):
                named = identity_keys(ChildIdentifiers(**ident) for ident in event.identifiers)
                batch.fact(str(event.originator_id), item, named, source="practitioner",
                           linked_by=event.linked_by, reason=event.reason)  # fmt: skip
            elif isinstance(event, IdentityLink.Unlinked):
                batch.withdraw(str(event.originator_id), item)
            elif isinstance(event, RecordLinkWithdrawal.Withdrawn):
                batch.withdraw(str(record_aggregate_id(event.agency, event.record_id)), item)
        if batch.first_seen:
            self._add(conn, batch)
        if batch.withdrawals:
            self._withdraw(conn, batch.withdrawals)

    @staticmethod
    def _add(conn: Connection, batch: _Batch) -> None:
        """Insert new keys and facts and merge the clusters the new facts join (older id wins)."""
        cluster_of: dict[str, str] = {}
        for part in chunks(batch.first_seen):
            for row in conn.execute(select(keys.c.key, keys.c.cluster_id).where(keys.c.key.in_(part))):
                cluster_of[row.key] = row.cluster_id
        new_rows = []
        root_seq: dict[str, int] = {}
        for key, (seq, at) in batch.first_seen.items():
            if key not in cluster_of:
                own_id = str(uuid.uuid5(CHILD_NAMESPACE, str(seq)))
                cluster_of[key] = own_id
                root_seq[own_id] = seq
                new_rows.append({"key": key, "own_id": own_id, "seq": seq, "first_seen_us": at, "cluster_id": own_id})
        touched = {cluster_of[row["key"]] for row in batch.fact_keys} - set(root_seq)
        for part in chunks(touched):
            for row in conn.execute(select(keys.c.own_id, keys.c.seq).where(keys.c.own_id.in_(part))):
                root_seq[row.own_id] = row.seq
        parent: dict[str, str] = {}

        def find(cluster: str) -> str:
            while cluster in parent:
                cluster = parent[cluster]
            return cluster

        members: dict[str, list[str]] = defaultdict(list)
        for row in batch.fact_keys:
            members[row["fact_id"]].append(cluster_of[row["key"]])
        for clusters in members.values():
            roots = {find(c) for c in clusters}
            winner = min(roots, key=root_seq.__getitem__)
            for root in roots - {winner}:
                parent[root] = winner
        for row in new_rows:
            row["cluster_id"] = find(row["cluster_id"])
        fresh = {row["own_id"] for row in new_rows}
        merges = [{"loser": c, "winner": find(c)} for c in parent if c not in fresh]
        if merges:
            conn.execute(
                update(keys).where(keys.c.cluster_id == bindparam("loser")).values(cluster_id=bindparam("winner")),
                merges,
            )
        if new_rows:
            conn.execute(insert(keys), new_rows)
        if batch.facts:
            conn.execute(insert(facts), batch.facts)
            conn.execute(insert(fact_keys), batch.fact_keys)

    @staticmethod
    def _withdraw(conn: Connection, withdrawals: list[dict]) -> None:
        """Mark facts withdrawn (the earliest withdrawal counts) and recompute the clusters they were in."""
        earliest = or_(facts.c.withdrawn_us.is_(None), facts.c.withdrawn_us > bindparam("at"))
        conn.execute(
            update(facts)
            .where(facts.c.fact_id == bindparam("target"))
            .values(withdrawn_us=case((earliest, bindparam("at")), else_=facts.c.withdrawn_us)),
            withdrawals,
        )
        affected: set[str] = set()
        for part in chunks({w["target"] for w in withdrawals}):
            query = select(keys.c.cluster_id).join(fact_keys, fact_keys.c.key == keys.c.key)
            affected.update(conn.execute(query.where(fact_keys.c.fact_id.in_(part))).scalars())
        if affected:
            recluster(conn, affected)


def recluster(conn: Connection, cluster_ids: Iterable[str]) -> None:
    """Recompute the components of the keys now in ``cluster_ids`` from the facts in force; each
    component takes the id of its earliest key."""
    rows = []
    for part in chunks(cluster_ids):
        rows.extend(conn.execute(select(keys.c.key, keys.c.own_id, keys.c.seq, keys.c.cluster_id)
                                 .where(keys.c.cluster_id.in_(part))))  # fmt: skip
    by_key = {row.key: row for row in rows}
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while key in parent:
            key = parent[key]
        return key

    for _, members in _facts_among(conn, by_key, None).values():
        roots = {find(k) for k in members}
        winner = min(roots, key=lambda k: by_key[k].seq)
        for root in roots - {winner}:
            parent[root] = winner
    changes = [
        {"k": row.key, "c": by_key[find(row.key)].own_id}
        for row in rows
        if by_key[find(row.key)].own_id != row.cluster_id
    ]
    if changes:
        conn.execute(update(keys).where(keys.c.key == bindparam("k")).values(cluster_id=bindparam("c")), changes)


# Queries ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Child:
    """A child as the ledger knows it: a stable id and the identifiers joined to it."""

    id: str
    keys: tuple[str, ...]

    @property
    def identifiers(self) -> list[dict]:
        """Identifier objects (SPEC section 2 shape): NHS numbers, then UPNs, then agency references."""
        order = {"nhs": 0, "upn": 1, "local": 2}
        return [key_identifier(k) for k in sorted(self.keys, key=lambda k: (order[k.split(":", 1)[0]], k))]

    def to_dict(self) -> dict:
        return {"id": self.id, "identifiers": self.identifiers}


@dataclass(frozen=True, slots=True)
class Component:
    """A child's keys as at a moment and, when asked, the facts in force joining them
    (``fact_id -> (recorded_us, keys)``), from which risk prompts tell when records were joined."""

    child: Child
    anchor: str
    facts: dict[str, tuple[int, list[str]]] | None = None


def _in_force(at_us: int | None):
    """The condition for a fact joining keys at ``at_us`` (None: now)."""
    if at_us is None:
        return facts.c.withdrawn_us.is_(None)
    return and_(facts.c.recorded_us <= at_us, or_(facts.c.withdrawn_us.is_(None), facts.c.withdrawn_us > at_us))


def _facts_among(conn: Connection, frontier: Iterable[str], at_us: int | None) -> dict[str, tuple[int, list[str]]]:
    """The facts in force at ``at_us`` that touch any key of ``frontier``, with all their keys."""
    found: dict[str, tuple[int, list[str]]] = {}
    near, far = fact_keys.alias("near"), fact_keys.alias("far")
    joined = near.join(facts, facts.c.fact_id == near.c.fact_id).join(far, far.c.fact_id == facts.c.fact_id)
    for part in chunks(frontier):
        query = select(far.c.fact_id, far.c.key, facts.c.recorded_us).select_from(joined)
        query = query.where(near.c.key.in_(part), _in_force(at_us)).distinct()
        for fact_id, key, recorded_us in conn.execute(query).all():
            members = found.setdefault(fact_id, (recorded_us, []))[1]
            if key not in members:  # a fact touching keys in two chunks comes back twice
                members.append(key)
    return found


def child_component(
    conn: Connection, child_id: str, *, at_us: int | None = None, with_facts: bool = False
) -> Component | None:
    """The child an id names: the component of the key owning the id, now (``at_us`` None) or as the
    facts in force at ``at_us`` made it; None when the id is unknown (or not yet given at ``at_us``)."""
    if at_us is None:  # one query: the owner's cluster, now
        cluster = select(keys.c.cluster_id).where(keys.c.own_id == child_id).scalar_subquery()
        query = select(keys.c.key, keys.c.cluster_id, keys.c.own_id).where(keys.c.cluster_id == cluster)
        rows = conn.execute(query).all()
        if not rows:
            return None
        anchor = next(key for key, _, own_id in rows if own_id == child_id)
        child = Child(rows[0][1], tuple(sorted(key for key, _, _ in rows)))
        edges = _facts_among(conn, child.keys, None) if with_facts else {}
    else:
        owner = conn.execute(select(keys.c.key, keys.c.first_seen_us).where(keys.c.own_id == child_id)).first()
        if owner is None or owner.first_seen_us > at_us:
            return None
        anchor = owner.key
        reached, frontier, edges = {anchor}, {anchor}, {}
        while frontier:
            found = _facts_among(conn, frontier, at_us)
            edges.update(found)
            frontier = {k for _, members in found.values() for k in members} - reached
            reached |= frontier
        earliest = min(
            (conn.execute(select(keys.c.seq, keys.c.own_id).where(keys.c.key.in_(part))
                          .order_by(keys.c.seq).limit(1)).one() for part in chunks(reached)),
        )  # fmt: skip
        child = Child(earliest.own_id, tuple(sorted(reached)))
    return Component(child, anchor, edges if with_facts else None)


def resolve_child(
    conn: Connection,
    *,
    nhs_number: str | None = None,
    upn: str | None = None,
    child: str | None = None,
    local_id: str | None = None,
    agency: str | None = None,
    as_of: datetime | None = None,
) -> Child | None:
    """Find a child by exactly one identifier: ``nhs_number``, ``upn``, ``child`` (a child id, also a
    superseded one) or ``local_id`` with its ``agency``. With ``as_of``, the child as the identity
    facts in force then made it (its id then, which still resolves today). None when unknown."""
    given = [name for name, value in (("nhs_number", nhs_number), ("upn", upn), ("child", child),
                                      ("local_id", local_id)) if value is not None]  # fmt: skip
    if len(given) != 1 or (local_id is None) != (agency is None):
        raise InvalidPayload("name the child by exactly one of nhs_number, upn, child, or local_id with agency")
    if child is not None:
        child_id = child
    else:
        key = f"nhs:{nhs_number}" if nhs_number else f"upn:{upn}" if upn else f"local:{agency}:{local_id}"
        child_id = conn.execute(select(keys.c.own_id).where(keys.c.key == key)).scalar()
        if child_id is None:
            return None
    component = child_component(conn, child_id, at_us=None if as_of is None else to_micros(as_of))
    return None if component is None else component.child


@dataclass(frozen=True, slots=True)
class LinkFact:
    """One fact joining a child's identifiers: an agency record or a practitioner's link."""

    fact_id: str
    source: str
    identifiers: list[dict]
    recorded_at: datetime
    withdrawn_at: datetime | None
    agency: str | None
    record_id: str | None
    linked_by: str | None
    reason: str | None


def identity_links(conn: Connection, child_id: str) -> list[LinkFact]:
    """Every fact that joins (or joined, until withdrawn) the child's current identifiers, oldest
    first: what a practitioner reviews before unlinking (``link_id`` is ``fact_id`` for practitioner
    links; an agency record is named by ``agency`` and ``record_id``)."""
    component = child_component(conn, child_id)
    if component is None:
        return []
    ids: set[str] = set()
    for part in chunks(component.child.keys):
        ids.update(conn.execute(select(fact_keys.c.fact_id).where(fact_keys.c.key.in_(part))).scalars())
    found = []
    for part in chunks(ids):
        rows = conn.execute(select(facts).where(facts.c.fact_id.in_(part))).all()
        members: dict[str, list[str]] = defaultdict(list)
        for row in conn.execute(select(fact_keys).where(fact_keys.c.fact_id.in_(part))):
            members[row.fact_id].append(row.key)
        for row in rows:
            found.append((row.notification_id, LinkFact(
                row.fact_id, row.source, Child("", tuple(members[row.fact_id])).identifiers,
                from_micros(row.recorded_us), None if row.withdrawn_us is None else from_micros(row.withdrawn_us),
                row.agency, row.record_id, row.linked_by, row.reason)))  # fmt: skip
    return [fact for _, fact in sorted(found, key=lambda pair: pair[0])]
