"""Checking a stored Merkle tree, node by node, against the tree its entries give.

The ledger serves proofs from stored complete-subtree hashes (projections/integrity). An altered
stored node changes no entry, so only a proof through it, or this check, shows it: as a verifier
recomputes the tree from the leaf hashes in log order, every node each leaf completes is compared
with the stored one, a chunk of leaves at a time (one read of their nodes), in O(log n) memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from domain import merkle

#: Reads the stored hashes of those of the given ``(level, index)`` subtrees that are stored.
ReadNodes = Callable[[Sequence[tuple[int, int]]], Mapping[tuple[int, int], bytes]]


class NodeCheck:
    """Recomputes the interior nodes of the tree leaf by leaf and compares them with ``read``'s.

    Only the nodes completed by the first ``limit`` leaves are checked: those the store held when
    verification began (leaves appended meanwhile may not have their nodes stored yet).
    """

    def __init__(self, read: ReadNodes, limit: int) -> None:
        self.read = read
        self.limit = limit
        self.size = 0
        self._border: list[bytes] = []

    def first_bad(self, leaf_hashes: bytes) -> tuple[int, str] | None:
        """Take the next leaf hashes (concatenated); return ``(leaf index, why)`` for the first leaf
        that completes a node stored otherwise (or not at all), or None."""
        computed: list[tuple[int, int, bytes, int]] = []
        for offset in range(0, len(leaf_hashes), merkle.HASH_SIZE):
            if self.size >= self.limit:
                break
            self._border, done = merkle.append_to_border(
                self._border, self.size, leaf_hashes[offset : offset + merkle.HASH_SIZE]
            )
            computed.extend((level, index, node, self.size) for level, index, node in done)
            self.size += 1
        if not computed:
            return None
        stored = self.read([(level, index) for level, index, _, _ in computed])
        for level, index, node, at in computed:
            found = stored.get((level, index))
            if found != node:
                what = "is not stored" if found is None else "is not the one its entries give"
                first, last = index << level, ((index + 1) << level) - 1
                return at, f"the stored Merkle node at level {level}, index {index} (leaves {first} to {last}) {what}"
        return None
