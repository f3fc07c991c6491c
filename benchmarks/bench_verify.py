"""Benchmarks of the verifiable log (issue 3): run with ``.venv/bin/pytest benchmarks/bench_verify.py -s``.

* Replay-and-verify of an export against raw Ed25519 verification of the same signatures, measured
  in the same run (goal: >= 0.8 x raw with one process, >= 1.8 x with two).
* Inclusion and consistency proofs from a stored tree of 1M leaves (the tables are filled directly,
  level by level, to keep the set-up bounded; ``BENCH_LEAVES`` changes the size).
* Integrity catch-up: leaves appended per second in batches of 1000, the ingest hot path.

Everything here is fictional data. PostgreSQL runs too when ``BENCH_POSTGRES=1``.
"""

from __future__ import annotations

import base64
import json
import os
import random
import resource
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, insert

from api.bootstrap import bootstrap
from api.cli import main
from api.settings import Settings
from domain import envelope as dsse
from domain import merkle
from domain.bundle import parse_export_line
from domain.envelope import PAYLOAD_TYPE, pae
from projections import checkpoints as cp
from projections import integrity
from projections.db import make_engine, metadata
from projections.runner import LogItem
from tests.conftest import POSTGRES_URL, concern, drop_postgres_schema, new_postgres_schema

RECORDS = int(os.environ.get("BENCH_RECORDS", "10000"))
LEAVES = int(os.environ.get("BENCH_LEAVES", str(1 << 20)))
BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("BENCH_POSTGRES") == "1" else [])


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bench.db'}"
        return
    schema = new_postgres_schema()
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        drop_postgres_schema(schema)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """An export of a SQLite ledger of RECORDS fictional records by one agency."""
    directory = tmp_path_factory.mktemp("bundle")
    settings = Settings(database_url=f"sqlite:///{directory / 'ledger.db'}", checkpoint_key=str(directory / "cp.key"))
    key = Ed25519PrivateKey.generate()
    services = bootstrap(settings)
    try:
        services.ledger.register_agency("northshire-police", "police", "Police (fictional)", key.public_key(),
                                        serves=("309", "310"), by="cli")
        for start in range(0, RECORDS, 1000):
            batch = [dsse.sign(json.dumps(concern(f"ref-{i}")).encode(), key) for i in range(start, start + 1000)]
            services.submit(batch)
    finally:
        services.close()
    db = ["--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]
    assert main(["export", "--out", str(directory / "out"), *db]) == 0
    return directory


def raw_verify_rate(bundle: Path) -> float:
    """Signatures per CPU second that Ed25519 alone verifies on one core, over the bundle's records."""
    work = []
    key_line = json.loads((bundle / "out" / "keys.jsonl").read_text().splitlines()[1])
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_line["public_key"]))
    for index, line in enumerate((bundle / "out" / "entries.jsonl").read_bytes().splitlines()):
        data = json.loads(parse_export_line(line, index)[0])
        if data["kind"] == "record":
            envelope = data["envelope"]
            message = pae(PAYLOAD_TYPE, base64.b64decode(envelope["payload"]))
            work.append((base64.b64decode(envelope["signatures"][0]["sig"]), message))
    started = time.process_time()
    for signature, message in work:
        public_key.verify(signature, message)
    return len(work) / (time.process_time() - started)


@dataclass
class Run:
    """One verification: entries per wall-clock second, and per CPU second over all its processes."""

    wall: float
    cpu: float


def run(args: list[str], entries: int) -> Run:
    """Run ``ledger`` in this process; CPU time counts this process and its (reaped) workers."""
    wall, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert main(args) == 0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return Run(entries / (time.perf_counter() - wall), entries / (time.process_time() - cpu + child_cpu))


def test_replay_and_verify_against_raw_ed25519(bundle, benchmark, capsys) -> None:
    """Per core, CPU time says how much of the work is signature checking whatever else runs on the
    machine; the wall-clock rate with two workers says how it scales (meaningful on an idle machine)."""
    raw = raw_verify_rate(bundle)
    entries = RECORDS + 2
    db = ["--database-url", f"sqlite:///{bundle / 'ledger.db'}", "--checkpoint-key", str(bundle / "cp.key")]
    rows = []
    for label, args in [
        ("bundle, in-process", ["verify", str(bundle / "out"), "--processes", "0"]),
        ("bundle, 1 worker", ["verify", str(bundle / "out"), "--processes", "1"]),
        ("bundle, 2 workers", ["verify", str(bundle / "out"), "--processes", "2"]),
        ("database, in-process", ["verify", *db, "--processes", "0"]),
        ("database, 2 workers", ["verify", *db, "--processes", "2"]),
    ]:
        rows.append((label, run(args, entries)))
    benchmark.extra_info.update({label: round(r.wall / raw, 3) for label, r in rows})
    benchmark.pedantic(main, args=(["verify", str(bundle / "out"), "--processes", "2"],), rounds=1, iterations=1)
    with capsys.disabled():
        print(f"\nraw Ed25519 verify: {raw:,.0f}/s a core; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        for label, r in rows:
            print(f"  {label:22s} wall {r.wall:7,.0f}/s = {r.wall / raw:4.2f} x raw;"
                  f"  per CPU second {r.cpu:7,.0f}/s = {r.cpu / raw:4.2f} x raw")  # fmt: skip


def build_tree(engine: Engine, size: int) -> bytes:
    """Fill the leaves and subtree tables for ``size`` synthetic leaves directly; returns the root."""
    now = datetime.now(timezone.utc)
    level = [merkle.leaf_hash(b"fictional entry %d" % i) for i in range(size)]
    with engine.begin() as conn:
        for start in range(0, size, 20000):
            conn.execute(insert(integrity.leaves), [
                {"leaf_index": i, "notification_id": i + 1, "originator_id": str(uuid.UUID(int=i)),
                 "leaf_hash": level[i], "recorded_at": now, "entry": b"fictional entry %d" % i}
                for i in range(start, min(start + 20000, size))
            ])  # fmt: skip
        height = 0
        while len(level) > 1:
            height += 1
            level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            rows = [{"level": height, "idx": i, "hash": h} for i, h in enumerate(level)]
            for start in range(0, len(rows), 20000):
                conn.execute(insert(integrity.subtrees), rows[start : start + 20000])
    with engine.connect() as conn:
        return integrity.root_hash(conn, size)


def test_proofs_at_a_million_leaves(url, benchmark, capsys) -> None:
    engine = make_engine(url)
    metadata.create_all(engine, tables=[integrity.leaves, integrity.subtrees])
    started = time.perf_counter()
    root = build_tree(engine, LEAVES)
    built = time.perf_counter() - started
    indexes = iter(random.Random(7).choices(range(LEAVES), k=100000))

    def prove() -> None:
        index = next(indexes)
        with engine.connect() as conn:
            proof = cp.inclusion_proof(conn, index, LEAVES)
        merkle.verify_inclusion(proof.leaf_hash, index, LEAVES, proof.proof, root)

    benchmark.pedantic(prove, rounds=200, iterations=1)
    with engine.connect() as conn:
        started = time.perf_counter()
        proof = cp.consistency_proof(conn, LEAVES // 3, LEAVES)
        consistency = time.perf_counter() - started
        merkle.verify_consistency(LEAVES // 3, LEAVES, proof.proof, integrity.root_hash(conn, LEAVES // 3), root)
    engine.dispose()
    with capsys.disabled():
        mean = benchmark.stats.stats.mean
        print(f"\n{url.split(':')[0]}: {LEAVES:,} leaves built in {built:.1f}s; inclusion proof {mean * 1e3:.2f} ms "
              f"(mean of 200, verified); consistency proof {consistency * 1e3:.2f} ms")  # fmt: skip


@dataclass
class FictionalEvent:
    """A stand-in for a stored event with an entry of typical size (a record's is ~1.3 kB)."""

    number: int
    ENTRY_KIND = "record"
    originator_id: uuid.UUID = field(default_factory=uuid.uuid4)
    timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def entry_fields(self) -> dict:
        return {"number": self.number, "padding": "x" * 1200}


def test_integrity_catch_up_rate(url, benchmark, capsys) -> None:
    engine = make_engine(url)
    metadata.create_all(engine, tables=[integrity.leaves, integrity.subtrees])
    projection = integrity.IntegrityProjection()
    batches = iter(range(10**6))

    def apply_batch() -> None:
        batch = next(batches)
        items = [LogItem(batch * 1000 + i + 1, FictionalEvent(i)) for i in range(1000)]
        with engine.begin() as conn:
            projection.apply(conn, items)

    benchmark.pedantic(apply_batch, rounds=30, iterations=1)
    engine.dispose()
    with capsys.disabled():
        mean = benchmark.stats.stats.mean
        backend = url.split(":")[0]
        print(f"\n{backend}: integrity catch-up {1000 / mean:,.0f} leaves/s ({mean * 1e3:.1f} ms a batch of 1000)")
