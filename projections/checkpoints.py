"""Signed checkpoints of the log, and the read side an auditor uses: proofs and entry bytes.

The ledger signs a C2SP checkpoint (domain/checkpoint) every ``every`` entries or once the newest is
older than ``seconds`` (checked whenever the integrity projection applies a batch), and on demand so
that ``GET /v1/log/checkpoint`` always covers every entry whose receipt was already issued. Signed
checkpoints are kept forever in their own table, which ``ledger rebuild integrity`` never drops:
each one is a commitment somebody may hold, and the ledger neither signs nor serves a log that
does not extend the latest of them (SPEC 6.5). Proofs read O(log n) stored subtrees in one or two
queries, and entries are served as stored (projections/integrity).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Notification
from sqlalchemy import BigInteger, Column, Connection, DateTime, Engine, LargeBinary, Table, Text, insert, select
from sqlalchemy.dialects import postgresql

from domain import merkle
from domain.checkpoint import (
    Checkpoint,
    LogInconsistent,
    NoteVerifier,
    parse_vkey,
    sign_checkpoint,
    verify_checkpoint,
    vkey,
)
from domain.errors import LedgerError, NotFound, ProofError
from domain.ledger import Ledger
from projections.db import create_tables, metadata
from projections.integrity import (
    RecordedLeaf,
    checked_root,
    ranges_reader,
    recorded_leaves,
    root_hash,
    stored_entries,
    tree_size,
)

checkpoints = Table(
    "integrity_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint as kept: ``note`` is the C2SP signed note, byte for byte as served."""

    size: int
    root: bytes
    note: str
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 section 2.1.3 audit path of leaf ``index`` in the tree of ``size`` (SPEC section 3)."""

    index: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 section 2.1.4 proof that the tree of ``size1`` is a prefix of the tree of ``size2``."""

    size1: int
    size2: int
    proof: list[bytes]


@dataclass(frozen=True, slots=True)
class StoredLeafEvent:
    """Leaf ``index`` as stored: the event in that place of the log (None past the log's end) and
    what the integrity projection recorded for it (None when not yet projected)."""

    index: int
    notification: Notification | None
    recorded: RecordedLeaf | None


def create_table(engine: Engine) -> None:
    """Create the checkpoint table if absent (safe to repeat); not a projection table, never dropped."""
    create_tables(engine, [checkpoints])


class CheckpointSigner:
    """Signs checkpoints of this log with its Ed25519 key; the key name is the origin (C2SP habit).

    It signs only a tree that extends the latest checkpoint signed for this log, recomputed from the
    stored entries (``integrity.checked_root``): a log cut short, rewritten or with an altered stored
    tree gets no new checkpoint (LogInconsistent, 503), and neither does a log whose checkpoints
    another key signed (a mistyped key path would otherwise create a fresh key and sign
    checkpoints no holder of the log's vkey can verify).
    """

    def __init__(self, origin: str, private_key: Ed25519PrivateKey, every: int, seconds: float) -> None:
        self.origin = origin
        self.private_key = private_key
        self.every = every
        self.seconds = seconds
        self.vkey = vkey(origin, private_key.public_key())
        self.verifier: NoteVerifier = parse_vkey(self.vkey)

    def sign(self, conn: Connection, size: int, root: bytes) -> StoredCheckpoint:
        """Sign and keep the checkpoint ``(size, root)``; a concurrent signer of the same size wins
        harmlessly (Ed25519 is deterministic, so both notes are the same). Asked again for the size
        of the latest checkpoint, with its root, it returns that one."""
        base = latest_signed(conn, self.verifier)
        if base is not None and size <= base.size:
            if size == base.size and root == base.root:
                return _checkpoint(conn.execute(select(checkpoints).where(checkpoints.c.size == size)).one())
            raise LogInconsistent(
                f"refusing to sign a checkpoint of size {size}: it does not extend the latest signed checkpoint "
                f"(size {base.size})"
            )
        if checked_root(conn, base, size) != root:
            raise LogInconsistent(f"refusing to sign a checkpoint of size {size}: its root is not the one its entries give")
        note = sign_checkpoint(Checkpoint(self.origin, size, root), self.origin, self.private_key)
        row = {"size": size, "root": root, "note": note, "signed_at": datetime.now(timezone.utc)}
        if conn.dialect.name == "postgresql":
            statement = postgresql.insert(checkpoints).on_conflict_do_nothing(index_elements=["size"])
        else:
            statement = insert(checkpoints).prefix_with("OR IGNORE")
        conn.execute(statement, row)
        return _checkpoint(conn.execute(select(checkpoints).where(checkpoints.c.size == size)).one())

    def is_due(self, latest: StoredCheckpoint | None, size: int, now: datetime) -> bool:
        """The policy: sign when ``every`` entries are uncovered, or any are and the newest is stale."""
        if latest is None:
            return size > 0
        uncovered = size - latest.size
        return uncovered >= self.every or (uncovered > 0 and (now - latest.signed_at).total_seconds() >= self.seconds)

    def after_batch(self, conn: Connection, size: int, root: bytes) -> None:
        """The integrity projection's hook: sign ``(size, root)`` when the policy says it is due."""
        if self.is_due(latest_checkpoint(conn), size, datetime.now(timezone.utc)):
            self.sign(conn, size, root)


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    """The checkpoint of the largest tree signed so far, or None before the first."""
    row = conn.execute(select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)).first()
    return None if row is None else _checkpoint(row)


def latest_signed(conn: Connection, verifier: NoteVerifier) -> Checkpoint | None:
    """The latest stored checkpoint as its signed note says (never the table's other columns), or
    None before the first. Raises LedgerError when ``verifier``'s key did not sign it."""
    latest = latest_checkpoint(conn)
    if latest is None:
        return None
    try:
        return verify_checkpoint(latest.note, verifier)
    except ProofError:
        raise LedgerError(
            f"the checkpoint key at hand did not sign this log's checkpoints (the latest covers {latest.size} "
            "entries): give the log's own key with --checkpoint-key or LEDGER_CHECKPOINT_KEY"
        ) from None


def require_consistent_log(conn: Connection, verifier: NoteVerifier) -> None:
    """Refuse (LogInconsistent) a log shorter than, or not extending, its own latest signed
    checkpoint: what a ledger checks before it serves. The stored tree must give the signed root at
    that size, and the entries since must hash to their leaves and nodes; O(log n) plus the entries
    not yet covered. Raises LedgerError when another key signed the latest checkpoint."""
    base = latest_signed(conn, verifier)
    if base is None:
        return
    size = tree_size(conn)
    if size < base.size:
        raise LogInconsistent(
            f"the log holds {size} entries, fewer than the {base.size} its latest signed checkpoint covers: "
            "it was cut short; the ledger will not serve it"
        )
    checked_root(conn, base, size)


def ensure_checkpoint(conn: Connection, signer: CheckpointSigner) -> StoredCheckpoint:
    """The latest checkpoint, first signing one of the whole current tree if it covers less.

    Every receipt is issued after its leaf is committed, so a checkpoint ensured afterwards covers
    every entry whose receipt was issued before the call. Run it in a write transaction. Raises
    LogInconsistent for a tree smaller than the latest checkpoint, or one that does not extend it.
    """
    latest = latest_checkpoint(conn)
    size = tree_size(conn)
    if latest is not None and latest.size == size:
        return latest
    return signer.sign(conn, size, root_hash(conn, size))


def checkpoints_after(conn: Connection, size: int, limit: int = 1000) -> list[StoredCheckpoint]:
    """Up to ``limit`` checkpoints of sizes above ``size``, smallest first: page through them all
    with ``size=-1`` then the last size seen."""
    rows = conn.execute(select(checkpoints).where(checkpoints.c.size > size).order_by(checkpoints.c.size).limit(limit))
    return [_checkpoint(row) for row in rows]


def inclusion_proof(conn: Connection, index: int, size: int) -> InclusionProof:
    """The audit path of leaf ``index`` in the tree of ``size`` (``GET /v1/log/proof/inclusion``).

    Raises NotFound unless 0 <= index < size <= the current tree size. Reads O(log n) rows.
    """
    _require_size(conn, size)
    if not 0 <= index < size:
        raise NotFound(f"leaf {index} is not in a tree of size {size}")
    ranges = merkle.inclusion_proof_ranges(index, size)
    reader = ranges_reader(conn, [*ranges, (index, index + 1)])
    proof = [merkle.range_root(start, end, reader) for start, end in ranges]
    return InclusionProof(index, size, reader(0, index), proof)


def consistency_proof(conn: Connection, size1: int, size2: int) -> ConsistencyProof:
    """The proof that the tree of ``size1`` is a prefix of the tree of ``size2``
    (``GET /v1/log/proof/consistency?from=size1&to=size2``); empty when size1 is 0 or equals size2.

    Raises NotFound unless 0 <= size1 <= size2 <= the current tree size. Reads O(log n) rows.
    """
    _require_size(conn, size2)
    if not 0 <= size1 <= size2:
        raise NotFound(f"no consistency proof from size {size1} to size {size2}")
    ranges = merkle.consistency_proof_ranges(size1, size2)
    reader = ranges_reader(conn, ranges)
    return ConsistencyProof(size1, size2, [merkle.range_root(start, end, reader) for start, end in ranges])


def entries(conn: Connection, start: int, end: int) -> list[bytes]:
    """The entry bytes of leaves ``[start, end)`` (``GET /v1/log/entries``), exactly as the integrity
    projection stored them when it hashed them.

    Raises NotFound unless 0 <= start <= end <= the tree size. The caller bounds ``end - start``
    (10,000 at most).
    """
    _require_size(conn, end)
    if not 0 <= start <= end:
        raise NotFound(f"no entries from {start} to {end}")
    return stored_entries(conn, start, end)


def stored_log(ledger: Ledger, engine: Engine, chunk: int = 1000) -> Iterator[list[StoredLeafEvent]]:
    """Walk the whole log for verification, in chunks, in constant memory.

    Leaf ``i`` pairs the i-th stored event (in notification order: dense, whatever gaps the ids have)
    with the i-th leaf the integrity projection recorded, so a deleted, inserted or reordered event
    shows as a mismatch at the first index it disturbs. The walk covers the tree as it was when it
    began, or the events then stored if more (entries not yet projected); a log shorter than its
    recorded tree yields leaves with no event.
    """
    with engine.connect() as conn:
        recorded_size = tree_size(conn)
    last_id = ledger.recorder.max_notification_id() or 0
    index, position = 0, 0
    while True:
        notifications: Sequence[Notification] = ledger.recorder.select_notifications(
            start=position, stop=last_id, limit=chunk, inclusive_of_start=False
        )
        count = len(notifications) if notifications else min(chunk, recorded_size - index)
        if count <= 0:
            return
        with engine.connect() as conn:
            recorded = {leaf.leaf_index: leaf for leaf in recorded_leaves(conn, index, index + count)}
        yield [
            StoredLeafEvent(
                index + offset, notifications[offset] if notifications else None, recorded.get(index + offset)
            )
            for offset in range(count)
        ]
        if notifications:
            position = notifications[-1].id
        index += count


def _require_size(conn: Connection, size: int) -> None:
    """Raise NotFound when the tree is smaller than ``size``: proofs and entries only cover what exists."""
    current = tree_size(conn)
    if size > current:
        raise NotFound(f"the log has {current} entries; there is no tree of size {size}")


def _checkpoint(row) -> StoredCheckpoint:
    """A row as a StoredCheckpoint; SQLite hands back naive UTC times, which are made aware here."""
    signed_at = row.signed_at if row.signed_at.tzinfo else row.signed_at.replace(tzinfo=timezone.utc)
    return StoredCheckpoint(row.size, row.root, row.note, signed_at)
