"""Hash tiles (domain/tiles): trees cut into tiles, grown batch by batch or built in bulk, give the
roots and RFC 9162 proofs of the naive reference (tests/merkle_reference.py) at random sizes.

Small tilings (tiles 2 or 3 levels tall) put many tile levels into small trees; the ledger's own
(``TLOG``, 256 hashes a tile) is checked at sizes past one and two full tile levels."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import merkle, tiles
from tests import merkle_reference as ref

MAX_SIZE = 600
FAST = settings(max_examples=150, deadline=None)
TILINGS = st.sampled_from([tiles.Tiling(2, 1), tiles.Tiling(3, 1), tiles.Tiling(3, 2), tiles.Tiling(4, 2), tiles.TLOG])


@cache
def entries(n: int = MAX_SIZE) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def leaf_hashes(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + entry).digest() for entry in entries(max(n, MAX_SIZE))[:n]]


def grow(batches: list[int], tiling: tiles.Tiling) -> tuple[dict[tiles.TileKey, tiles.Tile], int]:
    """Grow the tiles as the projection does: per batch, only its edge tiles at hand."""
    stored: dict[tiles.TileKey, tiles.Tile] = {}
    size, border = 0, []
    hashes = leaf_hashes(sum(batches))
    for count in batches:
        edge = {key: stored[key] for key in tiles.edge_tiles(size, tiling) if key in stored}
        assert len(edge) == len(tiles.edge_tiles(size, tiling)), "every edge tile is stored"
        nodes = []
        for index in range(size, size + count):
            nodes.append((0, index, hashes[index]))
            border, completed = merkle.append_to_border(border, index, hashes[index])
            nodes.extend(completed)
        stored.update(tiles.grown(edge, nodes, tiling))
        size += count
    return stored, size


def needed(ranges: list[tuple[int, int]], stored: dict, tiling: tiles.Tiling) -> dict:
    """Only the tiles a proof says it needs, as one query would fetch them."""
    keys = tiles.tiles_for(tiles.range_nodes(ranges), tiling)
    return {key: stored[key] for key in keys if key in stored}


@FAST
@given(tiling=TILINGS, batches=st.lists(st.integers(1, 90), min_size=1, max_size=8), data=st.data())
def test_grown_tiles_give_the_reference_roots_and_proofs(tiling, batches, data) -> None:
    stored, n = grow(batches, tiling)
    assert stored == dict(tiles.build_tiles(leaf_hashes(n), tiling)), "bulk building gives the same tiles"
    items = entries()[:n]
    for _ in range(5):
        size = data.draw(st.integers(1, n), label="size")
        [root] = tiles.range_roots([(0, size)], needed([(0, size)], stored, tiling), tiling)
        assert root == ref.mth(items[:size])
        index = data.draw(st.integers(0, size - 1), label="index")
        ranges = [*merkle.inclusion_proof_ranges(index, size), (index, index + 1)]
        *path, leaf = tiles.range_roots(ranges, needed(ranges, stored, tiling), tiling)
        assert leaf == hashlib.sha256(b"\x00" + items[index]).digest()
        assert path == ref.path(index, items[:size])
        size1 = data.draw(st.integers(1, size), label="size1")
        ranges = merkle.consistency_proof_ranges(size1, size)
        assert tiles.range_roots(ranges, needed(ranges, stored, tiling), tiling) == ref.proof(size1, items[:size])


@FAST
@given(tiling=TILINGS, n=st.integers(0, 300))
def test_a_node_is_read_from_its_tile_exactly_when_it_is_complete(tiling, n) -> None:
    stored = dict(tiles.build_tiles(leaf_hashes(n), tiling))
    items = entries()[:n]
    assert [key for key, tile in stored.items() if tile.width < tiling.width] == tiles.edge_tiles(n, tiling)
    for level in range(n.bit_length() + 1):
        for index in range(((n >> level) + 1)):
            found = tiles.node_from(stored, level, index, tiling)
            if (index + 1) << level <= n:
                assert found == ref.mth(items[index << level : (index + 1) << level]), (level, index)
            else:
                assert found is None, (level, index)


def test_the_ledgers_tiles_past_two_full_tile_levels_match_the_reference() -> None:
    """65,536 leaves fill a tile of level 1; a few hundred more start tiles on three levels."""
    n = 65536 + 300
    items = [f"entry {i}".encode() for i in range(n)]
    stored, size = grow([65000, 535, 1, 300], tiles.TLOG)
    assert size == n and stored == dict(tiles.build_tiles([merkle.leaf_hash(e) for e in items]))
    assert stored[1, 0].hashes[:64] == ref.mth(items[:256]) + ref.mth(items[256:512])
    assert stored[2, 0].hashes == ref.mth(items[:65536]), "the tlog-tiles tile of level 2: one full subtree"
    assert stored[0, 0].mids == b"".join(ref.mth(items[i : i + 16]) for i in range(0, 256, 16))
    assert sorted(stored) == sorted({(0, i) for i in range(258)} | {(1, 0), (1, 1), (2, 0)})
    for index, size in [(70, n), (65600, n), (65535, 65537)]:
        ranges = merkle.inclusion_proof_ranges(index, size)
        found = needed(ranges, stored, tiles.TLOG)
        assert len(found) <= 4
        assert tiles.range_roots(ranges, found) == ref.path(index, items[:size])
    ranges = merkle.consistency_proof_ranges(1000, n)
    assert tiles.range_roots(ranges, needed(ranges, stored, tiles.TLOG)) == ref.proof(1000, items)


def test_a_missing_tile_or_node_is_named() -> None:
    stored = dict(tiles.build_tiles(leaf_hashes(20), tiles.Tiling(2, 1)))
    with pytest.raises(LookupError, match="level 3, index 2"):
        tiles.range_roots([(0, 24)], stored, tiles.Tiling(2, 1))
    del stored[0, 1]
    with pytest.raises(LookupError, match="level 0, index 6"):
        tiles.range_roots([(6, 7)], stored, tiles.Tiling(2, 1))


def test_growing_refuses_a_gap_or_a_repeat() -> None:
    stored = dict(tiles.build_tiles(leaf_hashes(5)))
    with pytest.raises(ValueError, match="holds 5 hashes"):
        tiles.grown(stored, [(0, 6, bytes(32))])
    with pytest.raises(ValueError, match="holds 5 hashes"):
        tiles.grown(stored, [(0, 4, bytes(32))])
    assert tiles.grown(stored, [(0, 5, bytes(32)), (1, 2, bytes(32))]) == {
        (0, 0): tiles.Tile(stored[0, 0].hashes + bytes(32))
    }, "nodes of levels no row keeps are skipped"


@pytest.mark.parametrize("height, mid", [(8, 0), (8, 8), (1, 1)])
def test_a_tilings_extra_row_lies_inside_its_tiles(height: int, mid: int) -> None:
    with pytest.raises(ValueError, match="inside"):
        tiles.Tiling(height, mid)
