"""The integrity read model: every log entry as a dense Merkle leaf, and the tree as hash tiles.

Leaf indexes are dense from 0 in log order even where notification ids have gaps. Each leaf keeps
the exact entry bytes it hashed, written once as the entry is integrated: proofs, ``GET
/v1/log/entries``, exports and verification serve and hash those bytes and never derive them again
from the event (domain/entries), so a later change to that derivation cannot change the log.

The tree's hashes are stored as C2SP tlog-tiles tiles (domain/tiles): one row per 256 hashes of a
tile level, the rightmost partial tile of each level rewritten as it fills, about 34 bytes a leaf
where a row per node took ~250. A root or a proof reads its few tiles in one query by primary key
(three or four rows at 10M leaves) and never scans the leaves. Catch-up is on the ingest hot path,
so a batch of any size costs a fixed handful of statements: the tree size, the tiles at its right
edge, one multi-row insert of leaves and one multi-row upsert of tiles. Hot statements are plain
SQL run by the driver (``exec_driver_sql``), cached by text, so nothing is compiled per call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

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
    insert,
    inspect,
    select,
)

from domain import merkle
from domain import tiles
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

tiles_table = Table(
    "integrity_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("mids", LargeBinary, nullable=False),
)

#: The table of complete-subtree hashes, one row a node, that the tiles replaced.
RETIRED_TABLES = ("integrity_subtrees",)

#: Called once per applied batch, in its transaction, with the new tree size and root.
AfterBatch = Callable[[Connection, int, bytes], None]

#: Most values bound in one ``IN`` list, well under every backend's parameter limit.
_IN_CHUNK = 500

#: Most tiles fetched by one statement (two bound values each).
_TILE_CHUNK = 200


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


def needs_rebuild(engine: Engine) -> bool:
    """Whether the integrity tables were made by an older version: leaves without their entry bytes,
    or the tree stored a row per node (``integrity_subtrees``) instead of as tiles. Such a read model
    is rebuilt once from the log with its tables recreated (``drop_retired_tables`` then removes the
    old table); a database without the leaves table is new and needs nothing."""
    with engine.connect() as conn:
        found = inspect(conn)
        if not found.has_table(leaves.name):
            return False
        if "entry" not in {column["name"] for column in found.get_columns(leaves.name)}:
            return True
        return not found.has_table(tiles_table.name) or any(found.has_table(name) for name in RETIRED_TABLES)


def drop_retired_tables(engine: Engine) -> None:
    """Drop the tables older versions kept for the tree (safe to repeat): after ``needs_rebuild``
    said so and the read model has been rebuilt into the tiles."""
    with engine.begin() as conn:
        for name in RETIRED_TABLES:
            if inspect(conn).has_table(name):
                conn.exec_driver_sql(f"DROP TABLE {name}")


def _mark(conn: Connection) -> str:
    """The driver's positional placeholder (sqlite3: ``?``, psycopg: ``%s``)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@lru_cache(maxsize=64)
def _select_tiles_sql(mark: str, count: int) -> str:
    """One primary-key lookup per tile, joined: every backend answers each from the index (SQLite
    scans the table for a row-value IN list, and an OR of IN lists costs SQLAlchemy more than the
    query)."""
    one = f"SELECT level, idx, hashes, mids FROM {tiles_table.name} WHERE level = {mark} AND idx = {mark}"
    return " UNION ALL ".join([one] * count)


def tree_size(conn: Connection) -> int:
    """How many leaves the tree has (an index lookup, not a count)."""
    last = conn.exec_driver_sql(f"SELECT max(leaf_index) FROM {leaves.name}").scalar()
    return 0 if last is None else last + 1


def read_tiles(conn: Connection, keys: Iterable[tiles.TileKey]) -> dict[tiles.TileKey, tiles.Tile]:
    """The stored tiles among ``keys`` (tile level, index), in one statement for up to 200 tiles."""
    wanted = sorted(set(keys))
    found: dict[tiles.TileKey, tiles.Tile] = {}
    mark = _mark(conn)
    for start in range(0, len(wanted), _TILE_CHUNK):
        part = wanted[start : start + _TILE_CHUNK]
        rows = conn.exec_driver_sql(_select_tiles_sql(mark, len(part)), tuple(v for key in part for v in key))
        found.update(((level, idx), tiles.Tile(bytes(hashes), bytes(mids))) for level, idx, hashes, mids in rows)
    return found


def write_tiles(conn: Connection, changed: dict[tiles.TileKey, tiles.Tile]) -> None:
    """Insert the new tiles and rewrite the grown ones, in one multi-row statement."""
    if not changed:
        return
    mark = _mark(conn)
    conn.exec_driver_sql(
        f"INSERT INTO {tiles_table.name} (level, idx, hashes, mids) VALUES ({mark}, {mark}, {mark}, {mark}) "
        "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes, mids = excluded.mids",
        [(level, idx, tile.hashes, tile.mids) for (level, idx), tile in changed.items()],
    )


def stored_subtrees(conn: Connection, coordinates: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The hashes of those of the perfect subtrees ``(level, index)`` (level 0 = leaves) the stored
    tiles hold, folded from them: what verification compares with the tree its entries give."""
    wanted = set(coordinates)
    found_tiles = read_tiles(conn, tiles.tiles_for(wanted))
    found = {(level, index): tiles.node_from(found_tiles, level, index) for level, index in wanted}
    return {coordinate: digest for coordinate, digest in found.items() if digest is not None}


def range_roots(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """MTH of each leaf range, from one read of the tiles they need: proofs and roots.

    Raises LookupError naming the first subtree the stored tree lacks (it is smaller than asked).
    """
    found = read_tiles(conn, tiles.tiles_for(tiles.range_nodes(ranges)))
    return tiles.range_roots(ranges, found)


def root_hash(conn: Connection, size: int) -> bytes:
    """The RFC 9162 root of the first ``size`` leaves, from the tiles of its right border."""
    return range_roots(conn, [(0, size)])[0]


def _border(conn: Connection, size: int, also: Iterable[tiles.TileKey] = ()) -> tuple[list[bytes], dict]:
    """The right border of the tree of ``size`` (``merkle.append_to_border``) and the tiles read for
    it together with the ``also`` tiles; raises LookupError when the stored tree lacks part of it."""
    coordinates = merkle.perfect_subtrees(0, size)
    found = read_tiles(conn, [*tiles.tiles_for(coordinates), *also])
    border = []
    for level, index in coordinates:
        digest = tiles.node_from(found, level, index)
        if digest is None:
            raise LookupError(f"no complete subtree at level {level}, index {index}")
        border.append(digest)
    return border, found


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
    leaf is missing, a stored entry does not hash to its leaf hash, or a stored hash (a leaf's in its
    tile, or a Merkle node completed after ``base``) differs from the one its entries give. Reads
    O(log n) tiles and the ``size - base.size`` entries since ``base``, a chunk at a time.
    Precondition: size >= base.size.
    """
    start = 0 if base is None else base.size
    try:
        border, _ = _border(conn, start)
    except LookupError as error:
        raise LogInconsistent(f"the stored tree lacks part of the latest signed checkpoint's tree: {error}") from None
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
            completed.append((0, index, leaf.leaf_hash, index))
            border, done = merkle.append_to_border(border, index, leaf.leaf_hash)
            completed.extend((level, idx, node, index) for level, idx, node in done)
            index += 1
        _compare_nodes(conn, completed)
    return merkle.fold_right_border(border) if border else merkle.EMPTY_ROOT


def _compare_nodes(conn: Connection, completed: list[tuple[int, int, bytes, int]]) -> None:
    """Each recomputed ``(level, index, hash, completed at leaf)`` must be the stored one."""
    found = stored_subtrees(conn, [(level, idx) for level, idx, _, _ in completed])
    for level, idx, node, at in completed:
        if found.get((level, idx)) != node:
            what = "leaf hash in its tile" if level == 0 else f"Merkle node at level {level}, index {idx}"
            raise LogInconsistent(f"leaf {at}: the stored {what} is not the one its entries give")


class IntegrityProjection:
    """Appends each log entry as the next leaf and grows the tiles it fills.

    ``after_batch``, when given, runs in the same transaction once a batch is applied, with the new
    size and root (the checkpoint signer's policy hangs here, so signing needs no extra reads).
    """

    name = "integrity"
    tables = (leaves, tiles_table)

    def __init__(self, after_batch: AfterBatch | None = None) -> None:
        self.after_batch = after_batch

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        if not items:
            return
        size = tree_size(conn)
        # The right border (the hash of each complete subtree not yet inside a bigger one) and the
        # partial tiles the new hashes append to, in one read.
        border, edge = _border(conn, size, tiles.edge_tiles(size))
        leaf_rows, nodes = [], []
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
            nodes.append((0, index, leaf))
            border, completed = merkle.append_to_border(border, index, leaf)
            nodes.extend(completed)
        conn.execute(insert(leaves), leaf_rows)
        write_tiles(conn, tiles.grown(edge, nodes))
        if self.after_batch is not None:
            self.after_batch(conn, size + len(leaf_rows), merkle.fold_right_border(border))
