"""The access read model: who looked up which child, when, under what justification, with what answer.

It follows the log like every projection and keeps one row per access entry (domain/access.py), so
a child's access history (an inquiry's, or the child's council's) is listed without scanning the
log, each with the leaf index that proves it. Rows of version 1 entries have no holder and the
outcome ``allowed`` (only allowed reads were logged then).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    Text,
    insert,
    select,
)

from domain.access import LOGGED
from domain.entries import format_time
from projections.db import metadata
from projections.identity import Child, chunks, keys
from projections.integrity import leaves
from projections.runner import LogItem

access_reads = Table(
    "access_reads",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("access_id", String(36), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("holder", String(200), nullable=True),
    Column("token_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("agency", String(64), nullable=True),
    Column("local_authority", String(3), nullable=True),
    Column("child", String(128), nullable=True),
    Column("read", String(32), nullable=False),
    Column("query", Text, nullable=False),
    Column("as_of", String(40), nullable=True),
    Column("break_glass", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    Column("outcome", String(16), nullable=False),
    Index("access_reads_child", "child", "notification_id"),
)


@dataclass(frozen=True, slots=True)
class AccessRead:
    """One logged lookup, as a child's access history shows it."""

    at: datetime
    holder: str | None
    token_id: str
    role: str
    agency: str | None
    local_authority: str | None
    child: str | None
    read: str
    query: dict
    as_of: str | None
    break_glass: bool
    reason: str | None
    outcome: str
    leaf_index: int | None

    def as_json(self) -> dict:
        return {
            "at": format_time(self.at),
            "holder": self.holder,
            "token_id": self.token_id,
            "role": self.role,
            "agency": self.agency,
            "local_authority": self.local_authority,
            "child": self.child,
            "read": self.read,
            "query": self.query,
            "as_of": self.as_of,
            "break_glass": self.break_glass,
            "reason": self.reason,
            "outcome": self.outcome,
            "leaf_index": self.leaf_index,
        }


class AccessProjection:
    """Keeps a row per access entry; ignores every other event."""

    name = "access"
    tables = (access_reads,)

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        rows = [
            {
                "notification_id": item.notification_id,
                "access_id": str(item.event.originator_id),
                "at": item.event.timestamp,
                "holder": getattr(item.event, "holder", None),
                "token_id": item.event.token_id,
                "role": item.event.role,
                "agency": item.event.agency,
                "local_authority": item.event.local_authority,
                "child": item.event.child,
                "read": item.event.read,
                "query": json.dumps(item.event.query, sort_keys=True),
                "as_of": item.event.as_of,
                "break_glass": item.event.break_glass,
                "reason": item.event.reason,
                "outcome": getattr(item.event, "outcome", "allowed"),
            }
            for item in items
            if isinstance(item.event, LOGGED)
        ]
        if rows:
            conn.execute(insert(access_reads), rows)


def child_ids(conn: Connection, child: Child) -> list[str]:
    """Every id the child has been shown under: its own, and the first-sight id of each of its
    identifiers (children merged into it by a link read under those ids before)."""
    found = {child.id}
    for part in chunks(child.keys):
        found.update(conn.execute(select(keys.c.own_id).where(keys.c.key.in_(part))).scalars())
    return sorted(found)


def reads_of(conn: Connection, children: Sequence[str], *, limit: int = 1000, offset: int = 0) -> list[AccessRead]:
    """The logged lookups of any of ``children`` (a child's ids, past and present: ``child_ids``),
    oldest first: allowed reads and refused attempts alike (a lookup that found no child names none)."""
    query = (
        select(access_reads, leaves.c.leaf_index)
        .select_from(access_reads.outerjoin(leaves, leaves.c.originator_id == access_reads.c.access_id))
        .where(access_reads.c.child.in_(list(children)[:1000]))
        .order_by(access_reads.c.notification_id)
        .limit(limit)
        .offset(offset)
    )
    return [
        AccessRead(
            at=row.at if row.at.tzinfo else row.at.replace(tzinfo=timezone.utc),  # SQLite drops the zone
            holder=row.holder,
            token_id=row.token_id,
            role=row.role,
            agency=row.agency,
            local_authority=row.local_authority,
            child=row.child,
            read=row.read,
            query=json.loads(row.query),
            as_of=row.as_of,
            break_glass=row.break_glass,
            reason=row.reason,
            outcome=row.outcome,
            leaf_index=row.leaf_index,
        )
        for row in conn.execute(query)
    ]
