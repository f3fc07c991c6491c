"""The notifications read model: what each council is told about its children (SPEC 6.2, 6.3).

A council is told when a record gives one of its children a council the child did not have before
(``new_council``: the record, its agency and the new council), when a link, an agency's record or a
practitioner's, joins children of different councils (``cross_council_link``: every council involved
is told), and when a practitioner of another council breaks glass to look at one of its children
(``break_glass_read``: who, when, why). A child's councils are the ``local_authority`` values of its
current records (not superseded, not retracted), as projections/chronology.py reads them.

A read model must not read another's tables while it applies (projections/runner.py), so this one
keeps the little it needs to know a child's councils at each point of the log: every identity key
with the child id it gave at first sight (the rule of projections/identity.py), and every fact, a
record or a practitioner's link, with the keys it names, whether it still joins them and, for a
current record, its council. A batch loads the children its events touch, replays the events in
memory in log order and writes what changed, so any batching, and a rebuild, gives the same rows.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)

from domain.access import RESTRICTED_READ, Access
from domain.agencies import check_agency_id
from domain.entries import format_time
from domain.errors import LedgerError
from domain.identifiers import ChildIdentifiers
from domain.links import IdentityLink, RecordLinkWithdrawal, identity_keys, record_identifiers
from domain.records import Record, record_aggregate_id
from domain.text import check_reference
from projections.db import metadata
from projections.identity import CHILD_NAMESPACE, chunks, decode_record, from_micros, to_micros
from projections.runner import LogItem

KINDS = ("new_council", "cross_council_link", "break_glass_read")

keys = Table(
    "notification_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("own_id", String(36), nullable=False, unique=True),  # the child id the key gave at first sight
    Column("seq", BigInteger, nullable=False),  # first-sight order: the earliest key names the child
)

facts = Table(
    "notification_facts",
    metadata,
    Column("fact_id", String(36), primary_key=True),  # the record's or the practitioner link's aggregate id
    Column("council", String(3)),  # a current record's local_authority; None once withdrawn, and for links
    Column("joins", Boolean, nullable=False),  # whether it joins its keys into one child now
)

fact_keys = Table(
    "notification_fact_keys",
    metadata,
    Column("fact_id", String(36), primary_key=True),
    Column("key", String(255), primary_key=True),
    Index("notification_fact_keys_key", "key"),
)

notices = Table(
    "notifications",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),  # the log entry's
    Column("council", String(3), primary_key=True),  # the council told
    Column("child", String(128), primary_key=True),  # the child's id just after the entry
    Column("leaf_index", BigInteger, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("councils", String(200), nullable=False),  # comma-separated: new, involved, or the reader's
    Column("agency", String(64)),
    Column("record_id", String(128)),
    Column("link_id", String(36)),
    Column("who", String(200)),
    Column("read", String(32)),
    Column("reason", Text),
    Index("notifications_council", "council", "notification_id"),
)

# What each agency is told: a practitioner opened one of its restricted records by breaking glass.
agency_notices = Table(
    "agency_notifications",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),  # the access entry's
    Column("agency", String(64), nullable=False, index=True),
    Column("leaf_index", BigInteger, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("child", String(128)),
    Column("record_id", String(128), nullable=False),
    Column("who", String(200)),
    Column("council", String(3)),  # the reader's
    Column("reason", Text),
)

# How many log items the model has seen: every stored event is the next Merkle leaf (SPEC section 4).
cursor = Table(
    "notification_cursor",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("seen", BigInteger, nullable=False),
)


@dataclass(slots=True)
class _Fact:
    keys: tuple[str, ...]
    council: str | None
    joins: bool


class _Children:
    """The keys and facts of the children one batch touches, replayed in memory in log order."""

    def __init__(self) -> None:
        self.own: dict[str, tuple[str, int]] = {}  # key -> (own_id, seq)
        self.by_own: dict[str, str] = {}  # own_id -> key
        self.facts: dict[str, _Fact] = {}  # joining facts of the loaded children, targets, new facts
        self.links: dict[str, set[str]] = defaultdict(set)  # key -> ids of joining facts naming it
        self.counts: dict[str, Counter] = defaultdict(Counter)  # key -> current records per council
        self.new_keys: list[dict] = []
        self.new_facts: list[str] = []
        self.stored: set[str] = set()  # fact ids already in the database (updated, not inserted)
        self.dirty: set[str] = set()

    def see(self, named: Sequence[str], notification_id: int) -> None:
        """First sight of keys: the child id each gives is identity's (projections/identity.py)."""
        for ordinal, key in enumerate(named):
            if key not in self.own:
                seq = notification_id * 1024 + ordinal
                own_id = str(uuid.uuid5(CHILD_NAMESPACE, str(seq)))
                self.own[key], self.by_own[own_id] = (own_id, seq), key
                self.new_keys.append({"key": key, "own_id": own_id, "seq": seq})

    def add(self, fact_id: str, fact: _Fact) -> None:
        self.facts[fact_id] = fact
        self.new_facts.append(fact_id)
        for key in fact.keys:
            if fact.joins:
                self.links[key].add(fact_id)
            if fact.council is not None:
                self.counts[key][fact.council] += 1

    def change(self, fact_id: str, *, council: bool = False, joins: bool = False) -> None:
        """Withdraw a fact's council (an amended or retracted record) and/or its join (amended,
        retracted, unlinked); the first withdrawal counts, a later one changes nothing."""
        fact = self.facts.get(fact_id)
        if fact is None:
            return
        if council and fact.council is not None:
            for key in fact.keys:
                self.counts[key][fact.council] -= 1
            fact.council = None
            self.dirty.add(fact_id)
        if joins and fact.joins:
            for key in fact.keys:
                self.links[key].discard(fact_id)
            fact.joins = False
            self.dirty.add(fact_id)

    def component(self, key: str) -> set[str]:
        reached, stack = {key}, [key]
        while stack:
            for fact_id in self.links.get(stack.pop(), ()):
                for other in self.facts[fact_id].keys:
                    if other not in reached:
                        reached.add(other)
                        stack.append(other)
        return reached

    def councils(self, component: Iterable[str]) -> frozenset[str]:
        return frozenset(c for key in component for c, n in self.counts.get(key, {}).items() if n > 0)

    def child_id(self, component: Iterable[str]) -> str:
        return self.own[min(component, key=lambda key: self.own[key][1])][0]

    def children(self, touched: Iterable[str]) -> list[tuple[frozenset[str], frozenset[str]]]:
        """The children holding ``touched`` keys, each with its councils."""
        found, covered = [], set()
        for key in sorted(touched):
            if key in self.own and key not in covered:
                component = self.component(key)
                covered |= component
                found.append((frozenset(component), self.councils(component)))
        return found


def _told(before, after, state: _Children) -> list[tuple[str, str, str, list[str]]]:
    """``(kind, council told, child id, councils)`` for what an entry changed: the children it joined
    (``before`` -> ``after``, each a list of (keys, councils))."""
    told = []
    for component, now in after:
        parts = [had for keys_then, had in before if keys_then & component]
        had = frozenset().union(*parts)
        child = state.child_id(component)
        if len({councils for councils in parts if councils}) >= 2:  # children of different councils joined
            involved = sorted(had | now)
            told.extend(("cross_council_link", council, child, involved) for council in involved)
        elif (gained := sorted(now - had)) and had:
            told.extend(("new_council", council, child, gained) for council in sorted(had))
    return told


def _is_access(event: object) -> bool:
    return isinstance(event, Access.Logged) or getattr(event, "ENTRY_KIND", None) == "access"


class NotificationsProjection:
    """Tells councils about new councils, cross-council links and break-glass reads of their children."""

    name = "notifications"
    tables = (keys, facts, fact_keys, notices, agency_notices, cursor)

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        seen = conn.execute(select(cursor.c.seen).where(cursor.c.name == "log")).scalar()
        if seen is None:
            conn.execute(insert(cursor).values(name="log", seen=0))
            seen = 0
        conn.execute(update(cursor).where(cursor.c.name == "log").values(seen=seen + len(items)))
        state = _Children()
        _load(conn, state, items)
        rows = []
        for offset, item in enumerate(items):
            for kind, council, child, councils, fields in self._entry(state, item):
                rows.append({"notification_id": item.notification_id, "council": council, "child": child,
                             "leaf_index": seen + offset, "kind": kind, "at_us": to_micros(item.event.timestamp),
                             "councils": ",".join(councils), "agency": None, "record_id": None, "link_id": None,
                             "who": None, "read": None, "reason": None, **fields})  # fmt: skip
        _store(conn, state)
        if rows:
            conn.execute(insert(notices), rows)
        told = [row for offset, item in enumerate(items) if (row := _agency_notice(item, seen + offset))]
        if told:
            conn.execute(insert(agency_notices), told)

    @staticmethod
    def _entry(state: _Children, item: LogItem) -> list[tuple[str, str, str, list[str], dict]]:
        """Replay one log entry on ``state``; what it tells which council."""
        event = item.event
        if isinstance(event, Record.Recorded):
            payload = decode_record(event)
            named = identity_keys(record_identifiers(payload.subject, payload.same_child))
            state.see(named, item.notification_id)
            target_id = None if payload.amends is None else str(record_aggregate_id(payload.agency, payload.amends))
            target = state.facts.get(target_id) if target_id else None
            own_keys = tuple(named) if named or target is None else target.keys  # a bare retraction: its target's
            touched = set(own_keys) | set(target.keys if target else ())
            before = state.children(touched)
            if target_id is not None:
                state.change(target_id, council=True, joins=True)
            state.add(str(event.originator_id), _Fact(own_keys, payload.local_authority, len(named) >= 2))
            fields = {"agency": payload.agency, "record_id": payload.record_id}
            return [(*t, fields) for t in _told(before, state.children(touched), state)]
        if isinstance(event, IdentityLink.Linked):
            named = identity_keys(ChildIdentifiers(**ident) for ident in event.identifiers)
            state.see(named, item.notification_id)
            before = state.children(named)
            state.add(str(event.originator_id), _Fact(tuple(named), None, len(named) >= 2))
            fields = {"link_id": str(event.originator_id), "who": getattr(event, "holder", None) or event.linked_by,
                      "reason": event.reason}  # fmt: skip
            return [(*t, fields) for t in _told(before, state.children(named), state)]
        if isinstance(event, IdentityLink.Unlinked):
            state.change(str(event.originator_id), joins=True)
        elif isinstance(event, RecordLinkWithdrawal.Withdrawn):
            state.change(str(record_aggregate_id(event.agency, event.record_id)), joins=True)
        elif _is_access(event) and event.break_glass and getattr(event, "outcome", "allowed") == "allowed":
            key = state.by_own.get(event.child)
            if key is None:
                return []
            component = state.component(key)
            reader = event.local_authority
            fields = {"who": getattr(event, "holder", None) or event.token_id, "read": event.read,
                      "reason": event.reason}  # fmt: skip
            child = state.child_id(component)
            return [("break_glass_read", council, child, [reader] if reader else [], fields)
                    for council in sorted(state.councils(component) - {reader})]  # fmt: skip
        return []


def _agency_notice(item: LogItem, leaf_index: int) -> dict | None:
    """The row telling an agency that a practitioner broke glass to open its restricted record."""
    event = item.event
    if not (_is_access(event) and event.read == RESTRICTED_READ and event.break_glass):
        return None
    agency, record_id = event.query.get("agency"), event.query.get("record_id")
    if getattr(event, "outcome", "allowed") != "allowed" or not _names_record(agency, record_id):
        return None
    return {"notification_id": item.notification_id, "agency": event.query["agency"], "leaf_index": leaf_index,
            "at_us": to_micros(event.timestamp), "child": event.child, "record_id": record_id,
            "who": getattr(event, "holder", None) or event.token_id, "council": event.local_authority,
            "reason": event.reason}  # fmt: skip


def _names_record(agency: object, record_id: object) -> bool:
    """Whether an access entry's query names a record an agency could have made (the use case only
    writes such entries; any other is no one's to be told of)."""
    try:
        check_agency_id(agency, "agency")
        check_reference(record_id, "record_id")
    except LedgerError:
        return False
    return True


def _targets(items: Sequence[LogItem]) -> tuple[set[str], set[str], set[str]]:
    """What a batch's entries name: identity keys, facts they withdraw, child ids read by break glass."""
    named, withdrawn, read = set(), set(), set()
    for item in items:
        event = item.event
        if isinstance(event, Record.Recorded):
            payload = decode_record(event)
            named.update(identity_keys(record_identifiers(payload.subject, payload.same_child)))
            if payload.amends is not None:
                withdrawn.add(str(record_aggregate_id(payload.agency, payload.amends)))
        elif isinstance(event, IdentityLink.Linked):
            named.update(identity_keys(ChildIdentifiers(**ident) for ident in event.identifiers))
        elif isinstance(event, IdentityLink.Unlinked):
            withdrawn.add(str(event.originator_id))
        elif isinstance(event, RecordLinkWithdrawal.Withdrawn):
            withdrawn.add(str(record_aggregate_id(event.agency, event.record_id)))
        elif _is_access(event) and event.break_glass:
            read.add(event.child)
    return named, withdrawn, read


def _load(conn: Connection, state: _Children, items: Sequence[LogItem]) -> None:
    """Bring into ``state`` every stored child the batch touches: the facts it withdraws (with all their
    keys), the keys it names or reads, everything joined to those, and their councils."""
    named, withdrawn, read = _targets(items)
    seeds = set(named)
    for part in chunks(withdrawn):
        query = select(facts, fact_keys.c.key).join(fact_keys, fact_keys.c.fact_id == facts.c.fact_id)
        members: dict[str, list[str]] = defaultdict(list)
        for row in conn.execute(query.where(facts.c.fact_id.in_(part))):
            members[row.fact_id].append(row.key)
            state.facts.setdefault(row.fact_id, _Fact((), row.council, row.joins))
        for fact_id, found in members.items():
            state.facts[fact_id].keys = tuple(sorted(found))
            state.stored.add(fact_id)
            seeds.update(found)
    for part in chunks(read):
        seeds.update(conn.execute(select(keys.c.key).where(keys.c.own_id.in_(part))).scalars())
    reached, joined = _closure(conn, seeds)
    for part in chunks(reached):
        for key, own_id, seq in conn.execute(select(keys.c.key, keys.c.own_id, keys.c.seq).where(keys.c.key.in_(part))):
            state.own[key], state.by_own[own_id] = (own_id, seq), key
        query = (
            select(fact_keys.c.key, facts.c.council, func.count())
            .join(facts, facts.c.fact_id == fact_keys.c.fact_id)
            .where(fact_keys.c.key.in_(part), facts.c.council.is_not(None))
            .group_by(fact_keys.c.key, facts.c.council)
        )
        for key, council, count in conn.execute(query):
            state.counts[key][council] += count
    for fact_id, members in joined.items():
        stored = state.facts.get(fact_id)
        if stored is None:
            state.facts[fact_id] = _Fact(tuple(sorted(members)), None, True)  # its council is in the counts
            state.stored.add(fact_id)
        for key in members:
            state.links[key].add(fact_id)


def _closure(conn: Connection, seeds: set[str]) -> tuple[set[str], dict[str, set[str]]]:
    """Every key joined to ``seeds`` by the stored facts that join now, and those facts' keys."""
    reached, frontier, joined = set(seeds), set(seeds), {}
    near, far = fact_keys.alias("near"), fact_keys.alias("far")
    pairs = near.join(facts, facts.c.fact_id == near.c.fact_id).join(far, far.c.fact_id == near.c.fact_id)
    while frontier:
        found = set()
        for part in chunks(frontier):
            query = select(far.c.fact_id, far.c.key).select_from(pairs)
            for fact_id, key in conn.execute(query.where(near.c.key.in_(part), facts.c.joins.is_(True)).distinct()):
                joined.setdefault(fact_id, set()).add(key)
                found.add(key)
        frontier = found - reached
        reached |= frontier
    return reached, joined


def _store(conn: Connection, state: _Children) -> None:
    """Write the batch's new keys and facts and the stored facts it withdrew."""
    if state.new_keys:
        conn.execute(insert(keys), state.new_keys)
    if state.new_facts:
        new = [(fact_id, state.facts[fact_id]) for fact_id in state.new_facts]
        conn.execute(insert(facts), [{"fact_id": i, "council": f.council, "joins": f.joins} for i, f in new])
        rows = [{"fact_id": i, "key": key} for i, f in new for key in f.keys]
        if rows:
            conn.execute(insert(fact_keys), rows)
    changed = [{"id": i, "c": state.facts[i].council, "j": state.facts[i].joins}
               for i in sorted(state.dirty & state.stored)]  # fmt: skip
    if changed:
        query = update(facts).where(facts.c.fact_id == bindparam("id"))
        conn.execute(query.values(council=bindparam("c"), joins=bindparam("j")), changed)


# Queries ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing a council is told, with the leaf index of the log entry it comes from."""

    kind: str
    at: datetime
    leaf_index: int
    child: str
    councils: list[str]
    agency: str | None
    record_id: str | None
    link_id: str | None
    who: str | None
    read: str | None
    reason: str | None

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["at"] = format_time(self.at)
        return data


def council_notifications(conn: Connection, council: str, *, limit: int = 100, offset: int = 0) -> list[Notification]:
    """A council's notifications, newest first (by log position)."""
    query = (
        select(notices)
        .where(notices.c.council == council)
        .order_by(notices.c.notification_id.desc(), notices.c.child)
        .limit(limit)
        .offset(offset)
    )
    return [
        Notification(row.kind, from_micros(row.at_us), row.leaf_index, row.child,
                     row.councils.split(",") if row.councils else [], row.agency, row.record_id, row.link_id,
                     row.who, row.read, row.reason)  # fmt: skip
        for row in conn.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class AgencyNotification:
    """A practitioner opened one of the agency's restricted records, by breaking glass: who, why."""

    kind: str
    at: datetime
    leaf_index: int
    child: str | None
    record_id: str
    who: str | None
    council: str | None
    reason: str | None

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["at"] = format_time(self.at)
        return data


def agency_notifications(
    conn: Connection, agency: str, *, limit: int = 100, offset: int = 0
) -> list[AgencyNotification]:
    """An agency's notifications, newest first (by log position)."""
    query = (
        select(agency_notices)
        .where(agency_notices.c.agency == agency)
        .order_by(agency_notices.c.notification_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        AgencyNotification("restricted_record_read", from_micros(row.at_us), row.leaf_index, row.child,
                           row.record_id, row.who, row.council, row.reason)  # fmt: skip
        for row in conn.execute(query)
    ]
