"""RFC 9162 section 2.1 Merkle tree: hashing, proof shapes for a stored tree, verification, streaming root.

The ledger stores only perfect aligned subtrees: the subtree at ``(level, index)`` covers leaves
``[index * 2**level, (index + 1) * 2**level)``. Every hash a proof needs is the root of a leaf range
that splits into such subtrees, so the functions here turn proofs into lists of leaf ranges and
leaf ranges into roots, and never touch storage themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from domain.errors import ProofError

#: Size in bytes of every hash in the tree (SHA-256).
HASH_SIZE = 32

#: MTH({}) = SHA-256() — the root of the empty tree, RFC 9162 section 2.1.1.
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: Returns the stored hash of the perfect aligned subtree ``(level, index)``.
SubtreeHash = Callable[[int, int], bytes]

Range = tuple[int, int]


def leaf_hash(entry: bytes) -> bytes:
    """Return MTH({d}) = SHA-256(0x00 || d), the hash of one log entry (RFC 9162 section 2.1.1)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right), an interior node's hash (RFC 9162 section 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """Return k, the largest power of two strictly below n, where RFC 9162 section 2.1.1 splits D[n].

    Precondition: n > 1.
    """
    if n < 2:
        raise ValueError(f"no split point for a tree of {n} leaves")
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Return the fewest aligned perfect subtrees ``(level, index)`` covering [start, end), left to right.

    Greedily takes the largest subtree that is aligned at ``start`` and fits before ``end``, so the
    levels rise then fall (a compact range); for start == 0 they strictly fall, one per set bit of
    ``end``, which is the right border of the tree of size ``end``. Precondition: 0 <= start <= end.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    subtrees: list[tuple[int, int]] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        subtrees.append((level, start >> level))
        start += 1 << level
    return subtrees


def is_subtree_range(start: int, end: int) -> bool:
    """Tell whether [start, end) is a node of some RFC 9162 tree: start is a multiple of the smallest
    power of two >= end - start; such ranges are exactly those that appear in proofs.

    Precondition: none; an empty or reversed range is not a subtree range.
    """
    if not 0 <= start < end:
        return False
    width = 1 << (end - start - 1).bit_length()
    return start % width == 0


def range_root(start: int, end: int, subtree_hash: SubtreeHash) -> bytes:
    """Return MTH(D[start:end]) by folding its perfect subtrees right to left (RFC 9162 section 2.1.1).

    Precondition: [start, end) is a subtree range (see ``is_subtree_range``) so that its perfect
    subtrees shrink left to right, the first being D[start:start+k] with k = split_point(end - start),
    which makes the right-to-left fold exactly the RFC's recursive split; an empty range gives
    EMPTY_ROOT. ``subtree_hash`` must return the stored hash of every subtree in the decomposition.
    """
    if start == end:
        return EMPTY_ROOT
    if not is_subtree_range(start, end):
        raise ValueError(f"[{start}, {end}) is not a subtree range of an RFC 9162 tree")
    hashes = [subtree_hash(level, index) for level, index in perfect_subtrees(start, end)]
    return fold_right_border(hashes)


def fold_right_border(hashes: Sequence[bytes]) -> bytes:
    """Return the root of perfect subtree hashes of strictly shrinking sizes, hashing right to left.

    This is how RFC 9162 section 2.1.1 joins a tree's right border. Precondition: ``hashes`` is
    non-empty and lists the subtrees left to right, each a power of two larger than the next.
    """
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def append_to_border(
    border: Sequence[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append leaf ``size`` to the right border of the tree of ``size`` leaves: the one border merge.

    ``border`` holds the hashes of the tree's perfect subtrees ``perfect_subtrees(0, size)``, left to
    right, one per set bit of ``size`` (a compact range from 0). The new leaf merges with the
    border's equal-sized subtrees right to left as a binary counter carries: two neighbouring perfect
    subtrees of 2**l leaves are the halves of one of 2**(l+1) leaves, whose hash is
    ``node_hash(left, right)`` (RFC 9162 section 2.1.1, MTH with n = 2**(l+1) and k = 2**l).

    Returns the border of the tree of ``size + 1`` leaves and every subtree the leaf completed, as
    ``(level, index, hash)`` with level >= 1, lowest first; pure, so the offline verifier
    (domain/audit's CompactRange) and the stored tree (projections/integrity) share it. Raises
    ValueError when ``border`` is not the size of the border of ``size`` or ``leaf`` is not 32 bytes.
    """
    if len(border) != size.bit_count():
        raise ValueError(f"a tree of {size} leaves has {size.bit_count()} border subtrees, not {len(border)}")
    if len(leaf) != HASH_SIZE:
        raise ValueError(f"leaf hash has {len(leaf)} bytes, want {HASH_SIZE}")
    node, level, end, completed = leaf, 0, len(border), []
    while size >> level & 1:
        end -= 1
        node = node_hash(border[end], node)
        level += 1
        completed.append((level, size >> level, node))
    return [*border[:end], node], completed


def root(size: int, subtree_hash: SubtreeHash) -> bytes:
    """Return MTH(D[0:size]) of the stored tree, EMPTY_ROOT for size 0 (RFC 9162 section 2.1.1).

    Precondition: size >= 0 and every perfect subtree of [0, size) is stored.
    """
    return range_root(0, size, subtree_hash)


def inclusion_proof_ranges(index: int, size: int) -> list[Range]:
    """Return the leaf ranges whose roots, in this order (bottom-up), form PATH(index, D[0:size]).

    Follows the recursion of RFC 9162 section 2.1.3.1 top-down, then reverses it, since the RFC puts
    the deepest sibling first. Every range is a subtree range. Precondition: 0 <= index < size.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    start, end, siblings = 0, size, []
    while end - start > 1:
        middle = start + split_point(end - start)
        if index < middle:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            start = middle
    return siblings[::-1]


def consistency_proof_ranges(size1: int, size2: int) -> list[Range]:
    """Return the leaf ranges whose roots, in this order, form PROOF(size1, D[0:size2]).

    Follows SUBPROOF of RFC 9162 section 2.1.4.1 top-down, then reverses it, since the RFC puts the
    deepest node first. Empty when size1 == size2 or size1 == 0 (the RFC defines no proof from the
    empty tree). Every range is a subtree range. Precondition: 0 <= size1 <= size2.
    """
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 in (0, size2):
        return []
    start, end, whole, nodes = 0, size2, True, []
    while size1 != end:
        middle = start + split_point(end - start)
        if size1 <= middle:
            nodes.append((middle, end))
            end = middle
        else:
            nodes.append((start, middle))
            start, whole = middle, False
    if not whole:
        nodes.append((start, end))
    return nodes[::-1]


def inclusion_proof(index: int, size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """Return PATH(index, D[0:size]) from stored subtrees (RFC 9162 section 2.1.3.1).

    Precondition: 0 <= index < size and every subtree of the ranges is stored.
    """
    return [range_root(start, end, subtree_hash) for start, end in inclusion_proof_ranges(index, size)]


def consistency_proof(size1: int, size2: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """Return PROOF(size1, D[0:size2]) from stored subtrees (RFC 9162 section 2.1.4.1).

    Precondition: 0 <= size1 <= size2 and every subtree of the ranges is stored.
    """
    return [range_root(start, end, subtree_hash) for start, end in consistency_proof_ranges(size1, size2)]


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Return the root that ``proof`` implies for ``leaf_hash`` at ``index`` (RFC 9162 section 2.1.3.2).

    Raises ProofError when index >= size, the leaf hash is not 32 bytes or the proof has the wrong
    length; never decides by itself whether the root is right. Precondition: index, size >= 0.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash has {len(leaf_hash)} bytes, want {HASH_SIZE}", calculated=leaf_hash)
    want = len(inclusion_proof_ranges(index, size))
    if len(proof) != want:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, want {want} for leaf {index} of {size}")
    fn, sn, result = index, size - 1, leaf_hash
    for sibling in proof:
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return result


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is entry ``index`` of the tree of ``size`` whose root is ``root``.

    Follows RFC 9162 section 2.1.3.2; raises ProofError (with expected and calculated roots when they
    differ) on any failure. Precondition: index, size >= 0.
    """
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    _require_match("inclusion proof", root, calculated)


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of the tree of ``size2`` with ``root2``.

    Follows RFC 9162 section 2.1.4.2 and transparency-dev/merkle on the edge cases: size1 > size2
    and size1 == 0 are refused (a proof from the empty tree proves nothing, so callers skip the
    check instead), and equal sizes need an empty proof and equal roots. Raises ProofError.
    """
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}")
    if size1 <= 0:
        raise ProofError(f"no consistency proof exists from a tree of size {size1}")
    want = len(consistency_proof_ranges(size1, size2))
    if len(proof) != want:
        raise ProofError(f"consistency proof has {len(proof)} hashes, want {want} from {size1} to {size2}")
    if size1 == size2:
        _require_match("equal-size roots", root2, root1)
        return
    calculated1, calculated2 = roots_from_consistency_proof(size1, size2, proof, root1)
    _require_match("consistency proof, first root", root1, calculated1)
    _require_match("consistency proof, second root", root2, calculated2)


def roots_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    """Return the two roots (old, new) that ``proof`` implies, per RFC 9162 section 2.1.4.2 steps 2-6.

    Precondition: 0 < size1 < size2 and len(proof) == len(consistency_proof_ranges(size1, size2)),
    which ``verify_consistency`` checks first.
    """
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            first, second = node_hash(node, first), node_hash(node, second)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is high")
    return first, second


def _require_match(what: str, expected: bytes, calculated: bytes) -> None:
    """Raise ProofError carrying both hashes unless they are equal; the one place roots are compared."""
    if expected != calculated:
        raise ProofError(f"{what}: calculated root does not match expected root", expected, calculated)


class CompactRange:
    """The right border of a growing tree: one hash per set bit of its size, so memory stays O(log n).

    An offline verifier appends millions of leaf hashes and asks for the root at each checkpoint
    size; joining the border right to left gives MTH(D[0:size]) (RFC 9162 section 2.1.1).
    """

    __slots__ = ("_border", "_size")

    def __init__(self) -> None:
        self._border: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash (``append_to_border``, the same merge the stored tree makes).

        Precondition: ``leaf`` is a 32-byte leaf hash (``leaf_hash(entry)``), not the entry itself.
        """
        self._border, _ = append_to_border(self._border, self._size, leaf)
        self._size += 1

    def root(self) -> bytes:
        """Return MTH of the leaves appended so far, EMPTY_ROOT when there are none."""
        return fold_right_border(self._border) if self._border else EMPTY_ROOT
