"""The stored Merkle tree cut into tiles, as C2SP tlog-tiles does, with one extra row a tile.

C2SP tlog-tiles ("Merkle Tree" and "Tiles" sections) cuts the RFC 9162 section 2.1 tree into tiles
of height 8: tile ``(L, N)`` holds the hashes of the nodes at tree level ``8 L`` with indexes
``[256 N, 256 N + 256)`` (tree level 0 being the leaf hashes MTH({d})), fewer while it is the
rightmost, partial tile of its level, which is rewritten as it fills. Every node of tree levels
``8 L`` to ``8 L + 7`` is then the root of a run of one tile's hashes, so one stored row serves a
whole stretch of a proof: an inclusion proof of a tree of 10M leaves reads three or four tiles.

Folding a run of up to 128 hashes costs up to 127 SHA-256 calls, more than the database read, so each
tile here also keeps its hashes at tree level ``8 L + 4`` (16 for a full tile: 2 bytes a leaf
more): every node is folded from at most 8 hashes of one row. The first row stays the
tlog-tiles tile byte for byte, so it can be served as one.

The functions are pure; projections/integrity stores the rows. ``Tiling`` is a parameter only so
that tests can cut small trees into many small tiles; the ledger always uses ``TLOG``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

from domain.merkle import HASH_SIZE, node_hash, perfect_subtrees, range_root

#: A tile's place: (tile level L, index N at that level).
TileKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Tiling:
    """How the tree is cut: tiles ``height`` tree levels tall, an extra row at level ``mid`` in each."""

    height: int = 8
    mid: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.mid < self.height:
            raise ValueError(f"a tile's extra row must lie inside it, not at {self.mid} of {self.height}")

    @property
    def width(self) -> int:
        """Hashes in a full tile's first row (256 for tlog-tiles)."""
        return 1 << self.height


#: The C2SP tlog-tiles geometry: 256 hashes a tile, plus 16 at its middle level.
TLOG = Tiling()


@dataclass(frozen=True, slots=True)
class Tile:
    """One stored tile: ``hashes`` is the tlog-tiles tile (32 bytes a hash, left to right); ``mids``
    the tile's complete nodes ``mid`` levels up, left to right."""

    hashes: bytes
    mids: bytes = b""

    @property
    def width(self) -> int:
        return len(self.hashes) // HASH_SIZE


def _place(level: int, index: int, tiling: Tiling) -> tuple[TileKey, bool, int, int]:
    """Where node ``(level, index)`` is folded from: its tile, whether from the extra row, the
    position of its first hash in that row and how many hashes it spans."""
    tile_level, up = divmod(level, tiling.height)
    key = (tile_level, (index << up) >> tiling.height)
    if up >= tiling.mid:
        row_width = 1 << (tiling.height - tiling.mid)
        first = index << (up - tiling.mid)
        return key, True, first & (row_width - 1), 1 << (up - tiling.mid)
    return key, False, (index << up) & (tiling.width - 1), 1 << up


def tile_of(level: int, index: int, tiling: Tiling = TLOG) -> TileKey:
    """The tile holding what node ``(level, index)`` (RFC 9162 perfect subtree of leaves
    ``[index * 2**level, (index + 1) * 2**level)``) is folded from (tlog-tiles "Tiles")."""
    return _place(level, index, tiling)[0]


def tiles_for(nodes: Iterable[tuple[int, int]], tiling: Tiling = TLOG) -> list[TileKey]:
    """The distinct tiles the nodes ``(level, index)`` are folded from, in key order."""
    return sorted({tile_of(level, index, tiling) for level, index in nodes})


def range_nodes(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every perfect subtree of the leaf ranges (``merkle.perfect_subtrees``): the nodes whose
    hashes give the roots of the ranges, so the nodes a root or proof (as ranges) needs."""
    return [node for start, end in ranges for node in perfect_subtrees(start, end)]


def node_from(tiles: Mapping[TileKey, Tile], level: int, index: int, tiling: Tiling = TLOG) -> bytes | None:
    """The hash of node ``(level, index)`` folded from its tile's hashes (RFC 9162 section 2.1.1:
    a perfect subtree's root is the hash of its halves' roots), or None when the tile is not at
    hand or does not hold the node yet (the node is not complete in the stored tree)."""
    key, from_mids, first, span = _place(level, index, tiling)
    tile = tiles.get(key)
    if tile is None:
        return None
    row = tile.mids if from_mids else tile.hashes
    end = (first + span) * HASH_SIZE
    if len(row) < end:
        return None
    hashes = [row[offset : offset + HASH_SIZE] for offset in range(first * HASH_SIZE, end, HASH_SIZE)]
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def range_roots(
    ranges: Sequence[tuple[int, int]], tiles: Mapping[TileKey, Tile], tiling: Tiling = TLOG
) -> list[bytes]:
    """MTH of each leaf range (``merkle.range_root``) from the tiles ``tiles_for(range_nodes(ranges))``.

    Raises LookupError naming the first node the tiles do not hold (the tree is smaller than asked).
    """

    def subtree_hash(level: int, index: int) -> bytes:
        found = node_from(tiles, level, index, tiling)
        if found is None:
            raise LookupError(f"no complete subtree at level {level}, index {index}")
        return found

    return [range_root(start, end, subtree_hash) for start, end in ranges]


def edge_tiles(size: int, tiling: Tiling = TLOG) -> list[TileKey]:
    """The partial tiles of the tree of ``size`` leaves, one per tile level at most: where the
    next hashes append (tlog-tiles: a level's rightmost tile of fewer than 256 hashes)."""
    found, tile_level = [], 0
    while count := size >> (tile_level * tiling.height):
        if count % tiling.width:
            found.append((tile_level, count >> tiling.height))
        tile_level += 1
    return found


def grown(
    tiles: Mapping[TileKey, Tile], nodes: Iterable[tuple[int, int, bytes]], tiling: Tiling = TLOG
) -> dict[TileKey, Tile]:
    """The tiles that appending ``nodes`` changes or creates, with their new contents.

    ``nodes`` are the tree's new nodes ``(level, index, hash)`` in the order they complete: each leaf
    (level 0) followed by the subtrees it completes (``merkle.append_to_border``); those of levels
    no row keeps are skipped. ``tiles`` must hold the tree's ``edge_tiles`` (an absent tile is
    empty). Raises ValueError when a node is not the next hash of its row (a gap or a repeat).
    """
    rows: dict[TileKey, tuple[bytearray, bytearray]] = {}
    mid_shift = tiling.height - tiling.mid
    for level, index, digest in nodes:
        tile_level, up = divmod(level, tiling.height)
        if up == 0:
            key, which, position = (tile_level, index >> tiling.height), 0, index & (tiling.width - 1)
        elif up == tiling.mid:
            key, which, position = (tile_level, index >> mid_shift), 1, index & ((1 << mid_shift) - 1)
        else:
            continue
        if key not in rows:
            old = tiles.get(key, Tile(b""))
            rows[key] = (bytearray(old.hashes), bytearray(old.mids))
        row = rows[key][which]
        if len(row) != position * HASH_SIZE:
            raise ValueError(
                f"tile {key} holds {len(row) // HASH_SIZE} hashes in that row; node {index} of level {level} "
                f"would be hash {position}"
            )
        row += digest
    return {key: Tile(bytes(hashes), bytes(mids)) for key, (hashes, mids) in rows.items()}


def build_tiles(leaf_hashes: Iterable[bytes], tiling: Tiling = TLOG) -> Iterator[tuple[TileKey, Tile]]:
    """Every tile of the tree of the given leaf hashes, level by level, in constant memory per level
    (the roots of full tiles feed the next level): for bulk loads and rebuilds, the same tiles
    ``grown`` gives leaf by leaf."""
    tile_level, hashes = 0, iter(leaf_hashes)
    while True:
        roots: list[bytes] = []
        index = 0
        while run := list(islice(hashes, tiling.width)):
            tile, root = _tile_of_run(run, tiling)
            yield (tile_level, index), tile
            if root is not None:
                roots.append(root)
            index += 1
        if not roots:
            return
        tile_level, hashes = tile_level + 1, iter(roots)


def _tile_of_run(run: list[bytes], tiling: Tiling) -> tuple[Tile, bytes | None]:
    """A tile of the hashes ``run`` and its root (None unless the tile is full)."""
    level, mids = run, b""
    for up in range(1, tiling.height + 1):
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if up == tiling.mid:
            mids = b"".join(level)
    root = level[0] if len(run) == tiling.width else None
    return Tile(b"".join(run), mids), root
