"""The integrity projection and signed checkpoints on both backends: the stored tree, its proofs and
its checkpoints are checked against code that shares nothing with the ledger's (tests/merkle_reference
for RFC 9162, and a signed-note check written here with plain ``cryptography`` and ``hashlib`` calls)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select

from api.bootstrap import bootstrap
from domain.entries import entry_bytes
from domain.errors import LedgerError, NotFound
from projections import checkpoints as cp
from projections import integrity
from projections.db import make_engine, metadata
from projections.runner import LogItem
from tests import merkle_reference as ref
from tests.conftest import concern

DB_EXAMPLES = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass
class FakeEvent:
    """Just enough of a stored event for the integrity projection: a distinct entry per number."""

    number: int
    ENTRY_KIND = "test"
    originator_id: uuid.UUID = field(default_factory=uuid.uuid4)
    timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def entry_fields(self) -> dict:
        return {"number": self.number}


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url)
    metadata.create_all(engine, tables=[integrity.leaves, integrity.subtrees, cp.checkpoints])
    try:
        yield engine
    finally:
        engine.dispose()


def append(engine: Engine, projection: integrity.IntegrityProjection, events: list[FakeEvent], first_id: int) -> None:
    """Apply events as one batch, with notification ids that have gaps (as PostgreSQL's may)."""
    with engine.begin() as conn:
        projection.apply(conn, [LogItem(first_id + 3 * i, e) for i, e in enumerate(events)])


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (integrity.leaves, integrity.subtrees, cp.checkpoints):
            conn.execute(table.delete())


@DB_EXAMPLES
@given(batches=st.lists(st.integers(1, 40), min_size=1, max_size=6), data=st.data())
def test_stored_tree_and_proofs_match_the_reference_for_any_batching(engine, batches, data) -> None:
    reset(engine)
    projection, events = integrity.IntegrityProjection(), []
    for size in batches:
        batch = [FakeEvent(len(events) + i) for i in range(size)]
        append(engine, projection, batch, first_id=10 * len(events) + 1)
        events += batch
    entries = [entry_bytes(e) for e in events]
    n = len(entries)
    with engine.connect() as conn:
        assert integrity.tree_size(conn) == n
        rows = conn.execute(select(integrity.leaves.c.leaf_index).order_by(integrity.leaves.c.leaf_index)).scalars()
        assert list(rows) == list(range(n)), "leaf indexes are dense from 0 whatever the notification ids"
        for size in range(n + 1):
            assert integrity.root_hash(conn, size) == ref.mth(entries[:size])
        for _ in range(10):
            size = data.draw(st.integers(1, n), label="size")
            index = data.draw(st.integers(0, size - 1), label="index")
            proof = cp.inclusion_proof(conn, index, size)
            assert proof.leaf_hash == hashlib.sha256(b"\x00" + entries[index]).digest()
            assert proof.proof == ref.path(index, entries[:size])
            size1 = data.draw(st.integers(0, size), label="size1")
            expected = ref.proof(size1, entries[:size]) if size1 else []
            assert cp.consistency_proof(conn, size1, size).proof == expected


def test_catch_up_costs_a_few_queries_per_batch_whatever_its_size(engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    projection = integrity.IntegrityProjection()
    append(engine, projection, [FakeEvent(i) for i in range(1000)], first_id=1)
    first = len(statements)
    statements.clear()
    append(engine, projection, [FakeEvent(i) for i in range(1000, 2000)], first_id=5000)
    assert first <= 8 and len(statements) <= 8, statements
    with engine.connect() as conn:
        assert integrity.tree_size(conn) == 2000


def test_proofs_beyond_the_tree_are_refused(engine) -> None:
    append(engine, integrity.IntegrityProjection(), [FakeEvent(i) for i in range(5)], first_id=1)
    with engine.connect() as conn:
        with pytest.raises(NotFound):
            cp.inclusion_proof(conn, 0, 6)
        with pytest.raises(NotFound):
            cp.inclusion_proof(conn, 5, 5)
        with pytest.raises(NotFound):
            cp.consistency_proof(conn, 3, 6)
        with pytest.raises(NotFound):
            cp.consistency_proof(conn, 4, 3)


def verify_note_independently(note: str, vkey: str) -> tuple[str, int, bytes]:
    """C2SP signed-note and tlog-checkpoint checked from their texts alone: returns (origin, size, root)."""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    key_material = base64.b64decode(key_b64)
    assert key_material[0] == 1, "Ed25519 signature type"
    assert hashlib.sha256(name.encode() + b"\n" + key_material).digest()[:4].hex() == key_id_hex
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    dash, signer, blob_b64 = signatures.rstrip("\n").split(" ")
    assert dash == "\u2014" and signer == name
    blob = base64.b64decode(blob_b64)
    assert blob[:4].hex() == key_id_hex
    Ed25519PublicKey.from_public_bytes(key_material[1:]).verify(blob[4:], text.encode())  # raises if bad
    origin, size, root = text.splitlines()
    return origin, int(size), base64.b64decode(root)


def verify_inclusion_independently(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2, written out again here."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0 and r == root


def test_receipts_entries_proofs_and_checkpoint_verify_without_the_ledger(services, registered, signed) -> None:
    receipts = services.submit([signed(concern(f"ref-{i}")) for i in range(37)])
    assert [r["leaf_index"] for r in receipts] == list(range(2, 39)), "after agency_registered and key_added"
    checkpoint = services.checkpoint()
    origin, size, root = verify_note_independently(checkpoint.note, services.signer.vkey)
    assert (origin, size) == (services.settings.origin, 39)
    with services.engine.connect() as conn:
        entries = cp.entries(conn, 0, size)
        assert root == ref.mth(entries)
        for receipt in receipts:
            index = receipt["leaf_index"]
            leaf = hashlib.sha256(b"\x00" + entries[index]).digest()
            assert base64.b64decode(receipt["leaf_hash"]) == leaf
            proof = cp.inclusion_proof(conn, index, size)
            verify_inclusion_independently(leaf, index, size, proof.proof, root)
        entry = json.loads(entries[receipts[0]["leaf_index"]])
        assert entry["kind"] == "record" and entry["envelope"] == signed(concern("ref-0"))


def test_checkpoint_on_demand_covers_every_receipt_and_is_idempotent(services, registered, signed) -> None:
    receipts = services.submit([signed(concern("ref-1"))])
    first = services.checkpoint()
    assert first.size == receipts[0]["leaf_index"] + 1
    assert services.checkpoint() == first
    with services.engine.begin() as conn:  # a second signer racing for the same size changes nothing
        assert services.signer.sign(conn, first.size, first.root).note == first.note


def test_policy_signs_every_n_entries(settings, agency_key, signed) -> None:
    svc = bootstrap(replace(settings, checkpoint_every=10, checkpoint_seconds=1e9))
    try:
        svc.ledger.register_agency("northshire-police", "police", "Police (fictional)", agency_key.public_key(),
                                   serves=["309"], by="cli")
        svc.runner.catch_up()
        sizes = []
        for batch in range(4):
            svc.submit([signed(concern(f"ref-{batch}-{i}")) for i in range(6)])
            with svc.engine.connect() as conn:
                sizes.append(cp.latest_checkpoint(conn))
        # The first catch-up (size 2) signs at once; after that, a new one once 10 more are uncovered.
        assert [c.size for c in sizes] == [2, 14, 14, 26]
    finally:
        svc.close()


def test_policy_signs_a_stale_tail(services, registered, signed) -> None:
    signer = services.signer
    now = datetime.now(timezone.utc)
    latest = cp.StoredCheckpoint(10, b"\0" * 32, "", now - timedelta(seconds=signer.seconds + 1))
    assert signer.is_due(latest, 11, now)
    assert not signer.is_due(latest, 10, now), "nothing new: nothing to sign"
    assert not signer.is_due(cp.StoredCheckpoint(10, b"\0" * 32, "", now), 11, now)
    assert signer.is_due(None, 1, now) and not signer.is_due(None, 0, now)


def test_rebuilding_the_integrity_projection_keeps_checkpoints_and_the_same_tree(services, registered, signed) -> None:
    services.submit([signed(concern(f"ref-{i}")) for i in range(20)])
    before = services.checkpoint()
    services.runner.rebuild("integrity")
    with services.engine.connect() as conn:
        assert cp.latest_checkpoint(conn) == before
        assert integrity.root_hash(conn, before.size) == before.root


def test_entries_of_an_empty_range_and_beyond_the_tree(services, registered) -> None:
    services.runner.catch_up()
    with services.engine.connect() as conn:
        assert cp.entries(conn, 1, 1) == []
        assert [json.loads(e)["kind"] for e in cp.entries(conn, 0, 2)] == [
            "agency_registered",
            "key_added",
        ]
        with pytest.raises(NotFound):
            cp.entries(conn, 0, 3)


def test_a_checkpoint_key_is_created_with_mode_0600(settings, tmp_path) -> None:
    from api.cli import main

    key = tmp_path / "fresh.key"
    assert main(["init", "--database-url", settings.database_url, "--checkpoint-key", str(key)]) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    svc = bootstrap(replace(settings, checkpoint_key=str(key), origin="council.example/log"))
    try:
        note = svc.checkpoint().note
        assert note.startswith("council.example/log\n0\n")
        assert svc.signer.vkey.startswith("council.example/log+")
    finally:
        svc.close()


def test_a_different_checkpoint_key_refuses_to_open_or_sign_for_the_log(services, registered, signed, settings, tmp_path) -> None:
    services.submit([signed(concern("ref-1"))])
    first = services.checkpoint()
    with pytest.raises(LedgerError, match="did not sign this log's checkpoints"):
        bootstrap(replace(settings, checkpoint_key=str(tmp_path / "mistyped.key")))
    stranger = cp.CheckpointSigner(settings.origin, Ed25519PrivateKey.generate(), 1000, 60)
    services.submit([signed(concern("ref-2"))])  # the tree grows: a new checkpoint is wanted
    with services.engine.begin() as conn, pytest.raises(LedgerError, match="did not sign this log's checkpoints"):
        cp.ensure_checkpoint(conn, stranger)
    assert services.checkpoint().size == first.size + 1, "the log's own key still signs"
