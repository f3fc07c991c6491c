"""A naive RFC 9162 Merkle tree over a list of entries, written recursively straight from the RFC text.

It exists only to cross-check ``domain.merkle``: it shares no code with it (not even the hashing),
is quadratic, and keeps every entry in memory.
"""

from __future__ import annotations

import hashlib


def mth(entries: list[bytes]) -> bytes:
    """Return MTH(D[n]) as RFC 9162 section 2.1.1 defines it, recursing at the largest power of two < n."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _largest_power_of_two_below(n)
    return hashlib.sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:])).digest()


def path(m: int, entries: list[bytes]) -> list[bytes]:
    """Return PATH(m, D[n]), the audit path of entry m, per RFC 9162 section 2.1.3.1."""
    n = len(entries)
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return path(m, entries[:k]) + [mth(entries[k:])]
    return path(m - k, entries[k:]) + [mth(entries[:k])]


def proof(m: int, entries: list[bytes]) -> list[bytes]:
    """Return PROOF(m, D[n]) = SUBPROOF(m, D[n], true), per RFC 9162 section 2.1.4.1."""
    return _subproof(m, entries, True)


def _subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    """Return SUBPROOF(m, D[n], b) of RFC 9162 section 2.1.4.1."""
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return _subproof(m, entries[:k], b) + [mth(entries[k:])]
    return _subproof(m - k, entries[k:], False) + [mth(entries[:k])]


def _largest_power_of_two_below(n: int) -> int:
    """Return the largest power of two strictly smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k
