"""The integrity read model: every log entry as a dense Merkle leaf, plus complete-subtree hashes.

Leaf indexes are dense from 0 in log order even where notification ids have gaps. Storing the hash of
every complete aligned subtree means a root or a proof reads O(log n) rows and never scans the leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    func,
    insert,
    select,
)

from domain import merkle
from domain.entries import entry_bytes
from projections.db import metadata
from projections.runner import LogItem

leaves = Table(
    "integrity_leaves",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("notification_id", BigInteger, nullable=False, unique=True),
    Column("originator_id", String(36), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("integrity_leaves_originator", "originator_id"),
)

subtrees = Table(
    "integrity_subtrees",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Leaf:
    """Where an entry sits in the tree: what a receipt reports."""

    leaf_index: int
    leaf_hash: bytes
    recorded_at: datetime


def tree_size(conn: Connection) -> int:
    """How many leaves the tree has."""
    last = conn.execute(select(func.max(leaves.c.leaf_index))).scalar()
    return 0 if last is None else last + 1


def subtree_reader(conn: Connection):
    """A ``(level, index) -> hash`` function over the stored complete subtrees (level 0 = leaves)."""

    def subtree_hash(level: int, index: int) -> bytes:
        if level == 0:
            query = select(leaves.c.leaf_hash).where(leaves.c.leaf_index == index)
        else:
            query = select(subtrees.c.hash).where(subtrees.c.level == level, subtrees.c.idx == index)
        value = conn.execute(query).scalar()
        if value is None:
            raise LookupError(f"no complete subtree at level {level}, index {index}")
        return value

    return subtree_hash


def root_hash(conn: Connection, size: int) -> bytes:
    """The RFC 9162 root of the first ``size`` leaves, from O(log n) stored subtrees."""
    return merkle.root(size, subtree_reader(conn))


def leaves_for(conn: Connection, originator_ids: Sequence[str]) -> dict[str, Leaf]:
    """The first leaf of each named aggregate: for a record, its only event, so its receipt."""
    found: dict[str, Leaf] = {}
    for start in range(0, len(originator_ids), 500):
        rows = conn.execute(
            select(leaves.c.originator_id, leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.recorded_at)
            .where(leaves.c.originator_id.in_(originator_ids[start : start + 500]))
            .order_by(leaves.c.leaf_index.desc())
        )
        for row in rows:
            found[row.originator_id] = Leaf(row.leaf_index, row.leaf_hash, row.recorded_at)
    return found


class IntegrityProjection:
    """Appends each log entry as the next leaf and records every subtree it completes."""

    name = "integrity"
    tables = (leaves, subtrees)

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        size = tree_size(conn)
        # The right border of the tree: (level, hash) of each complete subtree not yet in a bigger one.
        border = [(level, subtree_reader(conn)(level, idx)) for level, idx in merkle.perfect_subtrees(0, size)]
        leaf_rows, subtree_rows = [], []
        for offset, item in enumerate(items):
            index = size + offset
            digest = merkle.leaf_hash(entry_bytes(item.event))
            leaf_rows.append(
                {
                    "leaf_index": index,
                    "notification_id": item.notification_id,
                    "originator_id": str(item.event.originator_id),
                    "leaf_hash": digest,
                    "recorded_at": item.event.timestamp,
                }
            )
            level, node = 0, digest
            while border and border[-1][0] == level:
                _, left = border.pop()
                node, level = merkle.node_hash(left, node), level + 1
                subtree_rows.append({"level": level, "idx": index >> level, "hash": node})
            border.append((level, node))
        conn.execute(insert(leaves), leaf_rows)
        if subtree_rows:
            conn.execute(insert(subtrees), subtree_rows)

