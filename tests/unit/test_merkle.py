"""RFC 9162 Merkle tree: known-answer vectors from transparency-dev/merkle, and hypothesis cross-checks
of the stored-subtree proofs against the naive recursive reference in ``tests/merkle_reference.py``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import merkle
from domain.errors import ProofError
from tests import merkle_reference as ref

#: Shared test data sits beside the repository: <repo root>/../shared/testdata (README there says where
#: each file came from; rfc9162/ is transparency-dev/merkle testdata at commit 417fb0c, Apache-2.0).
TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
VECTORS = TESTDATA / "rfc9162"
MAX_SIZE = 300
FAST = settings(max_examples=300, deadline=None)


def _vector_files(kind: str) -> list[Path]:
    """Every JSON vector of one kind, sorted so test ids are stable."""
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(value: str | None) -> bytes:
    """Decode one base64 vector field; the vectors use "" for an empty hash."""
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    """Decode a vector's proof; the vectors use null for an empty proof."""
    return [_b64(value) for value in values or []]


def _vector_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


@cache
def entries() -> tuple[bytes, ...]:
    """Distinct log entries, so no two leaves share a hash."""
    return tuple(f"entry {i}".encode() for i in range(MAX_SIZE))


@cache
def store() -> dict[tuple[int, int], bytes]:
    """The dict-backed perfect-subtree store of the largest tree; it serves every smaller size too."""
    subtrees = {(0, i): merkle.leaf_hash(entry) for i, entry in enumerate(entries())}
    level = 0
    while (level, 1) in subtrees:
        for index in range(0, MAX_SIZE >> level, 2):
            if (level, index + 1) in subtrees:
                left, right = subtrees[level, index], subtrees[level, index + 1]
                subtrees[level + 1, index // 2] = merkle.node_hash(left, right)
        level += 1
    return subtrees


def subtree_hash(level: int, index: int) -> bytes:
    """Look a subtree up; a KeyError means a function asked for a subtree the tree does not have."""
    return store()[level, index]


def leaves(size: int) -> list[bytes]:
    return list(entries()[:size])


@pytest.mark.parametrize("path", _vector_files("inclusion"), ids=_vector_id)
def test_inclusion_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    args = (_b64(vector["leafHash"]), vector["leafIdx"], vector["treeSize"], _proof(vector["proof"]))
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args, _b64(vector["root"]))
    else:
        merkle.verify_inclusion(*args, _b64(vector["root"]))


@pytest.mark.parametrize("path", _vector_files("consistency"), ids=_vector_id)
def test_consistency_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    roots = (_b64(vector["root1"]), _b64(vector["root2"]))
    args = (vector["size1"], vector["size2"], _proof(vector["proof"]), *roots)
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


def test_vector_roots_by_size() -> None:
    data = json.loads((VECTORS / "roots.json").read_text())
    inputs = [bytes.fromhex(value) for value in data["leaf_inputs_hex"]]
    subtrees: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for size, want in enumerate(data["root_hex_by_size"]):
        assert compact.root().hex() == want
        assert merkle.root(size, lambda level, index: subtrees[level, index]).hex() == want
        assert ref.mth(inputs[:size]).hex() == want
        if size < len(inputs):
            _store_leaf(subtrees, size, merkle.leaf_hash(inputs[size]))
            compact.append(merkle.leaf_hash(inputs[size]))


def _store_leaf(subtrees: dict[tuple[int, int], bytes], index: int, leaf: bytes) -> None:
    """Store a leaf and every perfect subtree it completes, as an append-only database would."""
    level, subtrees[0, index] = 0, leaf
    while index & 1:
        subtrees[level + 1, index >> 1] = merkle.node_hash(subtrees[level, index - 1], subtrees[level, index])
        level, index = level + 1, index >> 1


def test_empty_root_is_sha256_of_nothing() -> None:
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.root(0, subtree_hash) == merkle.EMPTY_ROOT == merkle.CompactRange().root()


def test_compact_range_root_matches_reference_at_every_size() -> None:
    compact = merkle.CompactRange()
    for size in range(MAX_SIZE + 1):
        assert compact.size == size
        assert compact.root() == ref.mth(leaves(size)) == merkle.root(size, subtree_hash)
        if size < MAX_SIZE:
            compact.append(merkle.leaf_hash(entries()[size]))


def test_compact_range_refuses_an_entry_instead_of_a_leaf_hash() -> None:
    with pytest.raises(ValueError):
        merkle.CompactRange().append(b"not a hash")


@FAST
@given(st.integers(0, 2 * MAX_SIZE), st.integers(0, 2 * MAX_SIZE))
def test_perfect_subtrees_tile_the_range_minimally(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    subtrees = merkle.perfect_subtrees(start, end)
    position = start
    for level, index in subtrees:
        assert index << level == position, "contiguous and aligned"
        position += 1 << level
    assert position == end
    for (level1, index1), (level2, index2) in zip(subtrees, subtrees[1:]):
        assert not (level1 == level2 and index1 % 2 == 0), "two siblings left unmerged"
    if start == 0:
        assert len(subtrees) == end.bit_count()


@FAST
@given(st.integers(0, 8), st.integers(0, MAX_SIZE), st.data())
def test_range_root_of_any_subtree_range_matches_reference(shift: int, at: int, data: st.DataObject) -> None:
    width = 1 << shift
    start = (at // width) * width
    end = data.draw(st.integers(start + 1, min(start + width, MAX_SIZE))) if start < MAX_SIZE else start
    assert merkle.range_root(start, end, subtree_hash) == ref.mth(list(entries()[start:end]))


def test_range_root_refuses_a_range_that_is_not_a_subtree() -> None:
    with pytest.raises(ValueError):
        merkle.range_root(2, 5, subtree_hash)


@FAST
@given(st.integers(1, MAX_SIZE), st.data())
def test_inclusion_proof_matches_reference_and_verifies(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, subtree_hash)
    root = merkle.root(size, subtree_hash)
    assert proof == ref.path(index, leaves(size))
    assert root == ref.mth(leaves(size))
    assert all(merkle.is_subtree_range(*r) for r in merkle.inclusion_proof_ranges(index, size))
    merkle.verify_inclusion(subtree_hash(0, index), index, size, proof, root)


@FAST
@given(st.integers(1, MAX_SIZE), st.data())
def test_inclusion_fails_for_any_flipped_bit(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, subtree_hash)
    root = merkle.root(size, subtree_hash)
    leaf = subtree_hash(0, index)
    bit = data.draw(st.integers(0, 8 * 32 - 1))
    target = data.draw(st.integers(-2, len(proof) - 1))  # -2: the leaf, -1: the root, else a proof hash
    if target == -2:
        leaf = _flip(leaf, bit)
    elif target == -1:
        root = _flip(root, bit)
    else:
        proof[target] = _flip(proof[target], bit)
    with pytest.raises(ProofError) as raised:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    assert raised.value.expected in (None, root)


@FAST
@given(st.integers(1, MAX_SIZE), st.data())
def test_inclusion_fails_at_another_index_or_size(size: int, data: st.DataObject) -> None:
    """Another index in the same tree always fails. The proof alone does not bind the size (leaf 0 of
    5 and of 6 hash the same way), the signed root does, so another size is checked against its root."""
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, subtree_hash)
    other_index = data.draw(st.integers(0, 2 * MAX_SIZE).filter(lambda i: i != index))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(subtree_hash(0, index), other_index, size, proof, ref.mth(leaves(size)))
    other_size = data.draw(st.integers(0, MAX_SIZE).filter(lambda s: s != size))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(subtree_hash(0, index), index, other_size, proof, ref.mth(leaves(other_size)))


@FAST
@given(st.integers(1, MAX_SIZE), st.data())
def test_consistency_proof_matches_reference_and_verifies(size2: int, data: st.DataObject) -> None:
    size1 = data.draw(st.integers(1, size2))
    proof = merkle.consistency_proof(size1, size2, subtree_hash)
    root1, root2 = merkle.root(size1, subtree_hash), merkle.root(size2, subtree_hash)
    assert proof == ref.proof(size1, leaves(size2))
    assert all(merkle.is_subtree_range(*r) for r in merkle.consistency_proof_ranges(size1, size2))
    merkle.verify_consistency(size1, size2, proof, root1, root2)


@FAST
@given(st.integers(2, MAX_SIZE), st.data())
def test_consistency_fails_for_any_flipped_bit(size2: int, data: st.DataObject) -> None:
    size1 = data.draw(st.integers(1, size2 - 1))
    proof = merkle.consistency_proof(size1, size2, subtree_hash)
    roots = [merkle.root(size1, subtree_hash), merkle.root(size2, subtree_hash)]
    bit = data.draw(st.integers(0, 8 * 32 - 1))
    target = data.draw(st.integers(-2, len(proof) - 1))  # -2, -1: a root, else a proof hash
    if target < 0:
        roots[target] = _flip(roots[target], bit)
    else:
        proof[target] = _flip(proof[target], bit)
    with pytest.raises(ProofError) as raised:
        merkle.verify_consistency(size1, size2, proof, *roots)
    assert raised.value.expected in roots


@FAST
@given(st.integers(1, MAX_SIZE), st.data())
def test_consistency_fails_between_other_sizes(size2: int, data: st.DataObject) -> None:
    """Changed sizes, checked against their true roots for the reason above, fail unless the proof
    happens to be the right proof for them too (the empty proof between two equal sizes)."""
    size1 = data.draw(st.integers(1, size2))
    proof = merkle.consistency_proof(size1, size2, subtree_hash)
    other1, other2 = data.draw(
        st.tuples(st.integers(0, MAX_SIZE), st.integers(0, MAX_SIZE)).filter(lambda s: s != (size1, size2))
    )
    args = (other1, other2, proof, ref.mth(leaves(other1)), ref.mth(leaves(other2)))
    if 0 < other1 <= other2 and proof == ref.proof(other1, leaves(other2)):
        merkle.verify_consistency(*args)  # e.g. the empty proof between equal sizes is still right
    else:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)


def test_consistency_from_the_empty_tree_is_refused_and_has_no_proof() -> None:
    assert merkle.consistency_proof_ranges(0, 5) == []
    assert merkle.consistency_proof_ranges(5, 5) == []
    with pytest.raises(ProofError):
        merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, merkle.root(5, subtree_hash))


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (merkle.inclusion_proof_ranges, (3, 3)),
        (merkle.inclusion_proof_ranges, (-1, 3)),
        (merkle.consistency_proof_ranges, (4, 3)),
        (merkle.perfect_subtrees, (4, 3)),
        (merkle.split_point, (1,)),
    ],
)
def test_broken_preconditions_are_programming_errors(
    function: Callable[..., object], args: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError):
        function(*args)


def _flip(value: bytes, bit: int) -> bytes:
    """Return ``value`` with one bit inverted."""
    flipped = bytearray(value)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


# The border merge shared by the verifier's CompactRange and the stored tree -----------------------


@FAST
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_appending_to_the_border_matches_the_reference_leaf_by_leaf(items: list[bytes]) -> None:
    """After each leaf, the border is the reference root of each perfect subtree of [0, size), its fold
    is MTH of the prefix, and the completed subtrees are exactly those the new leaf closes."""
    border: list[bytes] = []
    for size, item in enumerate(items):
        border, completed = merkle.append_to_border(border, size, merkle.leaf_hash(item))
        prefix = items[: size + 1]
        assert border == [ref.mth(prefix[i << level : (i + 1) << level]) for level, i in merkle.perfect_subtrees(0, size + 1)]
        assert merkle.fold_right_border(border) == ref.mth(prefix)
        closed = [(level, (size + 1 >> level) - 1) for level in range(1, (size + 1).bit_length()) if (size + 1) % (1 << level) == 0]
        assert [(level, index) for level, index, _ in completed] == closed
        for level, index, digest in completed:
            assert digest == ref.mth(prefix[index << level : (index + 1) << level])


@FAST
@given(st.integers(0, 1 << 20), st.data())
def test_the_border_merge_leaves_its_input_untouched_and_checks_its_shape(size: int, data: st.DataObject) -> None:
    border = [bytes([i]) * 32 for i in range(size.bit_count())]
    before = list(border)
    new, completed = merkle.append_to_border(border, size, b"\x07" * 32)
    assert border == before and len(new) == (size + 1).bit_count()
    assert len(completed) == (size ^ (size + 1)).bit_length() - 1  # one per carry
    wrong = data.draw(st.integers(0, 24).filter(lambda n: n != size.bit_count()))
    with pytest.raises(ValueError, match="border subtrees"):
        merkle.append_to_border([b"\x00" * 32] * wrong, size, b"\x07" * 32)
    with pytest.raises(ValueError, match="leaf hash has 31 bytes"):
        merkle.append_to_border(border, size, b"\x07" * 31)


@FAST
@given(st.integers(1, MAX_SIZE))
def test_every_stored_subtree_is_completed_exactly_once_by_the_border_merge(size: int) -> None:
    """The merges the integrity projection stores are all the perfect subtrees of the tree, once each."""
    border: list[bytes] = []
    made: dict[tuple[int, int], bytes] = {}
    for index, entry in enumerate(leaves(size)):
        border, completed = merkle.append_to_border(border, index, merkle.leaf_hash(entry))
        for level, idx, digest in completed:
            assert (level, idx) not in made
            made[level, idx] = digest
    expected = {c: h for c, h in store().items() if c[0] > 0 and (c[1] + 1) << c[0] <= size}
    assert made == expected
