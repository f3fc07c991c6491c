"""Signed checkpoints of the log, and the read side an auditor uses: proofs and entry bytes.

The ledger signs a C2SP checkpoint (domain/checkpoint) at a steady rate: every ``every`` entries
(checked whenever the integrity projection applies a batch) and, by a timer in each server
(api/usecases/log.py), once uncovered entries are ``seconds`` old. On demand it signs only for
receipts: ``GET /v1/log/checkpoint`` signs a new checkpoint when an entry a receipt was issued for
(a record) is not yet covered, so reads, whose access entries wait for the timer, never multiply
checkpoints. Signed checkpoints are kept forever in their own table, which ``ledger rebuild
integrity`` never drops: each one is a commitment somebody may hold. Witness cosignatures are kept
beside them (projections/witnesses) and served appended to the note. 
The ledger neither signs nor serves a log that does not extend the latest of its checkpoints
(SPEC 6.5). Proofs read O(log n) stored subtrees in one or two queries, and entries are served as
stored (projections/integrity).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification
from sqlalchemy import BigInteger, Column, Connection, DateTime, Engine, LargeBinary, Table, Text, insert, select
from sqlalchemy.dialects import postgresql

from domain import merkle
from domain import checkpoint_keys
from domain.checkpoint import (
    Checkpoint,
    LogInconsistent,
    NoteVerifier,
    parse_checkpoint,
    parse_vkey,
    sign_checkpoint,
    split_note,
    verify_checkpoint,
    verify_note,
    vkey,
)
from domain.cosignature import with_cosignatures
from domain.entries import decode_entry, entry_bytes
from domain.errors import IntegrityFailure, LedgerError, NotFound, ProofError
from domain.ledger import Ledger
from domain.records import Record
from projections import witnesses
from projections.db import create_tables, metadata
from projections.integrity import leaves as leaves_table
from projections.integrity import (
    RecordedLeaf,
    checked_root,
    ranges_reader,
    recorded_leaves,
    root_hash,
    stored_entries,
    tree_size,
)

logger = logging.getLogger("ledger.checkpoints")

#: Topics of the events a receipt is issued for: a checkpoint on demand must cover them.
RECEIPTED_TOPICS = (Record.Recorded.TOPIC,)

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
    """Create the checkpoint, witness and cosignature tables if absent (safe to repeat); none is a
    projection table, so none is ever dropped."""
    create_tables(engine, [checkpoints, *witnesses.TABLES])


class CheckpointSigner:
    """Signs checkpoints of this log with its Ed25519 key; the key name is the origin (C2SP habit).

    ``bind_key_history`` gives it the log's word on which key is in force (the latest
    ``checkpoint_key_rotated`` entry, None before any): a key rotated away signs nothing more.
    It signs only a tree that extends the latest checkpoint signed for this log, recomputed from the
    stored entries (``integrity.checked_root``): a log cut short, rewritten or with an altered stored
    tree gets no new checkpoint (LogInconsistent, 503).
    """

    def __init__(self, origin: str, private_key: Ed25519PrivateKey, every: int, seconds: float) -> None:
        self.origin = origin
        self.every = every
        self.seconds = seconds
        self._key_in_force: Callable[[], str | None] = lambda: None
        self._use(private_key)

    def _use(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.vkey = vkey(self.origin, private_key.public_key())
        self.verifier: NoteVerifier = parse_vkey(self.vkey)
        self._verified_note: str | None = None

    def bind_key_history(self, key_in_force: Callable[[], str | None]) -> None:
        """Ask ``key_in_force`` (the vkey the log's latest rotation names, or None) before signing."""
        self._key_in_force = key_in_force

    def rotate_to(self, private_key: Ed25519PrivateKey) -> None:
        """Sign with ``private_key`` from now on (after its rotation entry is in the log)."""
        self._use(private_key)

    def require_own_log(self, latest: StoredCheckpoint | None) -> None:
        """Refuse to sign for a log whose checkpoints another key signed: a mistyped key path would
        otherwise create a fresh key and sign checkpoints no holder of the log's vkey can verify.
        Once the log has rotated its key, the key it names is the only one that signs."""
        in_force = self._key_in_force()
        if in_force is not None:
            if in_force != self.vkey:
                raise LedgerError(
                    f"the log's checkpoint key was rotated to {in_force}: this key signs no more checkpoints; "
                    "give the new key with --checkpoint-key or LEDGER_CHECKPOINT_KEY"
                )
            return
        if latest is None or latest.note == self._verified_note:
            return
        try:
            verify_note(latest.note, self.verifier)
        except ProofError:
            raise LedgerError(
                f"the checkpoint key at hand did not sign this log's checkpoints (the latest covers {latest.size} "
                "entries): give the log's own key with --checkpoint-key or LEDGER_CHECKPOINT_KEY"
            ) from None
        self._verified_note = latest.note

    def sign(self, conn: Connection, size: int, root: bytes) -> StoredCheckpoint:
        """Sign and keep the checkpoint ``(size, root)``; a concurrent signer of the same size wins
        harmlessly (Ed25519 is deterministic, so both notes are the same). Asked again for the size
        of the latest checkpoint, with its root, it returns that one. Only the log's own key signs
        (``require_own_log``, which follows the key's rotations)."""
        latest = latest_checkpoint(conn)
        self.require_own_log(latest)
        base = None if latest is None else parse_checkpoint(split_note(latest.note)[0])
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
        stored = _checkpoint(conn.execute(select(checkpoints).where(checkpoints.c.size == size)).one())
        if stored.note == note:
            self._verified_note = note
        return stored

    def is_due(self, latest: StoredCheckpoint | None, size: int, now: datetime) -> bool:
        """The policy: sign when ``every`` entries are uncovered, or any are and the newest is stale."""
        if latest is None:
            return size > 0
        uncovered = size - latest.size
        return uncovered >= self.every or (uncovered > 0 and (now - latest.signed_at).total_seconds() >= self.seconds)

    def after_batch(self, conn: Connection, size: int, root: bytes) -> None:
        """The integrity projection's hook: sign ``(size, root)`` when the policy says it is due.

        A key that may not sign (rotated away, or not the log's) is logged and skipped: the leaves
        are the log's whatever key is at hand, so the integrity read model must not stop for it."""
        latest = latest_checkpoint(conn)
        if self.is_due(latest, size, datetime.now(timezone.utc)):
            try:
                self.require_own_log(latest)
            except LedgerError:
                logger.warning("not signing a checkpoint of size %d: this process holds another key than the log's", size)
                return
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


def require_consistent_log(conn: Connection, verifier: NoteVerifier, ledger: Ledger | None = None) -> None:
    """Refuse (LogInconsistent) a log shorter than, or not extending, its own latest signed
    checkpoint: what a ledger checks before it serves. The stored tree must give the signed root at
    that size, and the entries since must hash to their leaves and nodes; O(log n) plus the entries
    not yet covered. Raises LedgerError when another key signed the latest checkpoint, unless the
    log's own key rotations (``ledger`` given) name the key that did."""
    try:
        base = latest_signed(conn, verifier)
    except LedgerError:
        latest = latest_checkpoint(conn)
        if ledger is None or latest is None or key_in_force(ledger, _origin(latest)) is None:
            raise
        base = parse_checkpoint(split_note(latest.note)[0])  # a rotated log: its key history says who signs
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


def sign_if_due(conn: Connection, signer: CheckpointSigner) -> StoredCheckpoint | None:
    """The timer's step: sign the whole tree when the policy says so (``every`` entries or any
    entry ``seconds`` old uncovered), else nothing. Run it in a write transaction."""
    latest = latest_checkpoint(conn)
    size = tree_size(conn)
    if not signer.is_due(latest, size, datetime.now(timezone.utc)):
        return None
    signer.require_own_log(latest)
    return signer.sign(conn, size, root_hash(conn, size))


def checkpoint_for_receipts(conn: Connection, signer: CheckpointSigner, ledger: Ledger) -> StoredCheckpoint:
    """The latest checkpoint, first signing one of the whole tree only if an entry a receipt was
    issued for (a record) is not yet covered, or there is no checkpoint at all.

    Other entries (access entries, decisions, links, administrative entries) wait for the steady
    rate: a read appends an access entry, and signing for each would make one checkpoint per read.
    Receipts are issued after their leaf is committed, so the answer covers every entry whose
    receipt was issued before the call. Run it in a write transaction.
    """
    latest = latest_checkpoint(conn)
    size = tree_size(conn)
    if latest is not None and (latest.size >= size or not _receipted_between(conn, ledger, latest.size, size)):
        return latest
    signer.require_own_log(latest)
    return signer.sign(conn, size, root_hash(conn, size))


def _receipted_between(conn: Connection, ledger: Ledger, start: int, end: int) -> bool:
    """Whether leaves ``[start, end)`` hold an entry a receipt is issued for: one range query on the
    event store's primary key, bounded by how many entries are uncovered."""
    first, last = recorded_leaves(conn, start, start + 1), recorded_leaves(conn, end - 1, end)
    if not first or not last:
        return True  # leaves missing from the tree: sign, and let verification say what is wrong
    found = ledger.recorder.select_notifications(
        start=first[0].notification_id, stop=last[0].notification_id, limit=1, topics=list(RECEIPTED_TOPICS)
    )
    return bool(found)


def _origin(checkpoint: StoredCheckpoint) -> str:
    """The origin line of a stored checkpoint's note."""
    return split_note(checkpoint.note)[0].split("\n", 1)[0]


def checkpoint_of_size(conn: Connection, size: int) -> StoredCheckpoint | None:
    """The checkpoint the ledger signed of ``size``, or None."""
    row = conn.execute(select(checkpoints).where(checkpoints.c.size == size)).first()
    return None if row is None else _checkpoint(row)


def served_note(conn: Connection, checkpoint: StoredCheckpoint) -> str:
    """The checkpoint's note as served: the ledger's signature, then every witness cosignature kept
    for it (C2SP signed-note: clients ignore the lines of keys they do not know)."""
    return with_cosignatures(checkpoint.note, witnesses.cosignature_lines(conn, checkpoint.size))


def key_in_force(ledger: Ledger, origin: str) -> str | None:
    """The vkey the log's latest checkpoint key rotation names, or None if it never rotated."""
    try:
        keys = ledger.repository.get(checkpoint_keys.keys_aggregate_id(origin))
    except AggregateNotFoundError:
        return None
    return keys.current


def stored_rotations(ledger: Ledger, engine: Engine) -> list[checkpoint_keys.Rotation]:
    """Every checkpoint key rotation in the log with its leaf index (a pre-pass by topic, for
    verification); rotations not yet in the tree are left out (no checkpoint covers them)."""
    found, position = [], 0
    while page := ledger.recorder.select_notifications(
        start=position, limit=1000, topics=list(checkpoint_keys.TOPICS), inclusive_of_start=False
    ):
        for notification in page:
            try:
                entry = decode_entry(entry_bytes(ledger.mapper.to_domain_event(notification)))
            except Exception:  # an altered event: the verification stream names its index
                continue
            with engine.connect() as conn:
                index = conn.execute(
                    select(leaves_table.c.leaf_index).where(leaves_table.c.notification_id == notification.id)
                ).scalar()
            if index is not None:
                found.append(checkpoint_keys.rotation_of_entry(index, entry))
        position = page[-1].id
    return found


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
