"""The integrity read model: every log entry as a dense Merkle leaf, plus complete-subtree hashes.

Leaf indexes are dense from 0 in log order even where notification ids have gaps. Each leaf keeps
the exact entry bytes it hashed, written once as the entry is integrated: proofs, ``GET
/v1/log/entries``, exports and verification serve and hash those bytes and never derive them again
from the event (domain/entries), so a later change to that derivation cannot change the log. Storing the hash of
every complete aligned subtree means a root or a proof reads O(log n) rows in one or two queries and
never scans the leaves. Catch-up is on the ingest hot path, so a batch of any size costs a fixed
handful of queries: the tree size, its right border, one multi-row insert per table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    func,
    insert,
    inspect,
    and_,
    or_,
    select,
)

from domain import merkle
from domain.checkpoint import Checkpoint, LogInconsistent
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
    Column("entry", LargeBinary, nullable=False),
    Index("integrity_leaves_originator", "originator_id"),
)

subtrees = Table(
    "integrity_subtrees",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

#: Called once per applied batch, in its transaction, with the new tree size and root.
AfterBatch = Callable[[Connection, int, bytes], None]

#: Most values bound in one ``IN`` list, well under every backend's parameter limit.
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Leaf:
    """Where an entry sits in the tree: what a receipt reports."""

    leaf_index: int
    leaf_hash: bytes
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class RecordedLeaf:
    """A stored leaf as the projection wrote it: which notification it came from, its hash and the
    entry bytes it hashed."""

    leaf_index: int
    notification_id: int
    leaf_hash: bytes
    entry: bytes


def predates_stored_entries(engine: Engine) -> bool:
    """Whether the leaves table was made by a version that did not keep each leaf's entry bytes
    (it then needs rebuilding once, with its tables recreated)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(leaves.name):
            return False
        return "entry" not in {column["name"] for column in inspect(conn).get_columns(leaves.name)}


def tree_size(conn: Connection) -> int:
    """How many leaves the tree has (an index lookup, not a count)."""
    last = conn.execute(select(func.max(leaves.c.leaf_index))).scalar()
    return 0 if last is None else last + 1


def read_subtrees(conn: Connection, coordinates: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Fetch the stored hashes of perfect subtrees ``(level, index)`` (level 0 = leaves) in few queries.

    Raises LookupError naming the first subtree that is not stored (the tree is smaller than asked).
    """
    wanted = set(coordinates)
    found = stored_subtrees(conn, wanted)
    missing = sorted(wanted - found.keys())
    if missing:
        raise LookupError(f"no complete subtree at level {missing[0][0]}, index {missing[0][1]}")
    return found


def stored_subtrees(conn: Connection, coordinates: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of those of the perfect subtrees ``(level, index)`` that are stored."""
    wanted = set(coordinates)
    found: dict[tuple[int, int], bytes] = {}
    leaf_indexes = sorted(index for level, index in wanted if level == 0)
    inner = sorted(c for c in wanted if c[0] > 0)
    for start in range(0, len(leaf_indexes), _IN_CHUNK):
        rows = conn.execute(
            select(leaves.c.leaf_index, leaves.c.leaf_hash).where(
                leaves.c.leaf_index.in_(leaf_indexes[start : start + _IN_CHUNK])
            )
        )
        found.update(((0, index), digest) for index, digest in rows)
    for start in range(0, len(inner), _IN_CHUNK):
        by_level: dict[int, list[int]] = {}
        for level, index in inner[start : start + _IN_CHUNK]:
            by_level.setdefault(level, []).append(index)
        # One "level = ? AND idx IN (...)" term per level: every backend answers it from the primary
        # key (SQLite scans the whole table for a row-value IN list).
        terms = [and_(subtrees.c.level == level, subtrees.c.idx.in_(indexes)) for level, indexes in by_level.items()]
        rows = conn.execute(select(subtrees.c.level, subtrees.c.idx, subtrees.c.hash).where(or_(*terms)))
        found.update(((level, index), digest) for level, index, digest in rows)
    return found


def subtree_reader(conn: Connection) -> merkle.SubtreeHash:
    """A ``(level, index) -> hash`` function over the stored subtrees, one query per call.

    Prefer ``read_subtrees`` when the coordinates are known up front, as for roots and proofs.
    """

    def subtree_hash(level: int, index: int) -> bytes:
        return read_subtrees(conn, [(level, index)])[(level, index)]

    return subtree_hash


def ranges_reader(conn: Connection, ranges: Iterable[tuple[int, int]]) -> merkle.SubtreeHash:
    """Prefetch every perfect subtree of the leaf ranges in one go; returns a reader over them.

    Precondition: the tree holds every leaf of every range.
    """
    coordinates = [c for start, end in ranges for c in merkle.perfect_subtrees(start, end)]
    found = read_subtrees(conn, coordinates)
    return lambda level, index: found[(level, index)]


def root_hash(conn: Connection, size: int) -> bytes:
    """The RFC 9162 root of the first ``size`` leaves, from its O(log n) stored border subtrees."""
    return merkle.root(size, ranges_reader(conn, [(0, size)]))


def leaves_for(conn: Connection, originator_ids: Sequence[str]) -> dict[str, Leaf]:
    """The first leaf of each named aggregate: for a record, its only event, so its receipt."""
    found: dict[str, Leaf] = {}
    for start in range(0, len(originator_ids), _IN_CHUNK):
        rows = conn.execute(
            select(leaves.c.originator_id, leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.recorded_at)
            .where(leaves.c.originator_id.in_(originator_ids[start : start + _IN_CHUNK]))
            .order_by(leaves.c.leaf_index.desc())
        )
        for row in rows:
            found[row.originator_id] = Leaf(row.leaf_index, row.leaf_hash, row.recorded_at)
    return found


def recorded_leaves(conn: Connection, start: int, end: int) -> list[RecordedLeaf]:
    """The stored leaves ``[start, end)`` in index order (fewer when the tree is smaller)."""
    rows = conn.execute(
        select(leaves.c.leaf_index, leaves.c.notification_id, leaves.c.leaf_hash, leaves.c.entry)
        .where(leaves.c.leaf_index >= start, leaves.c.leaf_index < end)
        .order_by(leaves.c.leaf_index)
    )
    return [RecordedLeaf(index, notification_id, digest, bytes(entry)) for index, notification_id, digest, entry in rows]


def stored_entries(conn: Connection, start: int, end: int) -> list[bytes]:
    """The stored entry bytes of leaves ``[start, end)`` in index order (fewer when the tree is smaller)."""
    rows = conn.execute(
        select(leaves.c.entry).where(leaves.c.leaf_index >= start, leaves.c.leaf_index < end).order_by(leaves.c.leaf_index)
    )
    return [bytes(entry) for entry in rows.scalars()]


def checked_root(conn: Connection, base: Checkpoint | None, size: int, chunk: int = 1000) -> bytes:
    """The root of the first ``size`` leaves, recomputed from the stored entry bytes of the leaves
    after the signed checkpoint ``base`` (all of them when None) on top of the stored border of
    ``base``, which must give the root ``base`` signs. What checkpoint signing rests on.

    Raises LogInconsistent naming what is wrong: the stored tree no longer gives ``base``'s root, a
    leaf is missing, a stored entry does not hash to its leaf hash, or a stored Merkle node
    completed after ``base`` differs from the one its entries give. Reads O(log n) subtrees and the
    ``size - base.size`` entries since ``base``, a chunk at a time. Precondition: size >= base.size.
    """
    start = 0 if base is None else base.size
    coordinates = merkle.perfect_subtrees(0, start)
    try:
        stored = read_subtrees(conn, coordinates)
    except LookupError as error:
        raise LogInconsistent(f"the stored tree lacks part of the latest signed checkpoint's tree: {error}") from None
    border = [stored[coordinate] for coordinate in coordinates]
    if base is not None and (merkle.fold_right_border(border) if border else merkle.EMPTY_ROOT) != base.root:
        raise LogInconsistent(
            f"the log's first {base.size} entries no longer give the root its latest signed checkpoint signs: "
            "the log or its stored tree was rewritten"
        )
    index = start
    while index < size:
        rows = recorded_leaves(conn, index, min(index + chunk, size))
        if not rows:
            raise LogInconsistent(f"leaf {index} of a tree of {size} is not stored")
        completed: list[tuple[int, int, bytes, int]] = []
        for leaf in rows:
            if leaf.leaf_index != index:
                raise LogInconsistent(f"leaf {index} of a tree of {size} is not stored")
            if merkle.leaf_hash(leaf.entry) != leaf.leaf_hash:
                raise LogInconsistent(f"leaf {index}: its stored entry does not hash to its stored leaf hash")
            border, done = merkle.append_to_border(border, index, leaf.leaf_hash)
            completed.extend((level, idx, node, index) for level, idx, node in done)
            index += 1
        _compare_nodes(conn, completed)
    return merkle.fold_right_border(border) if border else merkle.EMPTY_ROOT


def _compare_nodes(conn: Connection, completed: list[tuple[int, int, bytes, int]]) -> None:
    """Each recomputed ``(level, index, hash, completed at leaf)`` must be the stored node."""
    found = stored_subtrees(conn, [(level, idx) for level, idx, _, _ in completed])
    for level, idx, node, at in completed:
        if found.get((level, idx)) != node:
            raise LogInconsistent(
                f"leaf {at}: the stored Merkle node at level {level}, index {idx} is not the one its entries give"
            )


class IntegrityProjection:
    """Appends each log entry as the next leaf and records every subtree it completes.

    ``after_batch``, when given, runs in the same transaction once a batch is applied, with the new
    size and root (the checkpoint signer's policy hangs here, so signing needs no extra reads).
    """

    name = "integrity"
    tables = (leaves, subtrees)

    def __init__(self, after_batch: AfterBatch | None = None) -> None:
        self.after_batch = after_batch

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        size = tree_size(conn)
        border_coordinates = merkle.perfect_subtrees(0, size)
        stored = read_subtrees(conn, border_coordinates)
        # The right border: the hash of each complete subtree not yet inside a bigger one.
        border = [stored[coordinate] for coordinate in border_coordinates]
        leaf_rows, subtree_rows = [], []
        for offset, item in enumerate(items):
            index = size + offset
            entry = entry_bytes(item.event)
            leaf = merkle.leaf_hash(entry)
            leaf_rows.append(
                {
                    "leaf_index": index,
                    "notification_id": item.notification_id,
                    "originator_id": str(item.event.originator_id),
                    "leaf_hash": leaf,
                    "recorded_at": item.event.timestamp,
                    "entry": entry,
                }
            )
            border, completed = merkle.append_to_border(border, index, leaf)
            subtree_rows.extend({"level": level, "idx": idx, "hash": node} for level, idx, node in completed)
        if not leaf_rows:
            return
        conn.execute(insert(leaves), leaf_rows)
        if subtree_rows:
            conn.execute(insert(subtrees), subtree_rows)
        if self.after_batch is not None:
            new_size = size + len(leaf_rows)
            self.after_batch(conn, new_size, merkle.fold_right_border(border))
