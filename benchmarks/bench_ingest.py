"""How fast the ledger takes in signed records, against the floor set by checking their signatures.

Run: ``.venv/bin/pytest benchmarks/ --benchmark-only``. The summary prints batch ingest / raw verify
(issue 2's goal: >= 0.7 on one core). Every ingest benchmark runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json

from domain import envelope as dsse
from tests.conftest import concern

BATCH = 1000


def _one_envelope(agency_key) -> tuple[bytes, dict]:
    raw = json.dumps(dsse.sign(json.dumps(concern()).encode(), agency_key)).encode()
    return raw, {dsse.key_id(agency_key.public_key()): agency_key.public_key()}


def bench_raw_ed25519_verify(benchmark, agency_key, record_rate):
    """The floor: one Ed25519 verification over the PAE of one record, nothing else."""
    raw, keys = _one_envelope(agency_key)
    envelope = dsse.parse_envelope(raw)
    message = dsse.pae(envelope.payload_type, envelope.payload_bytes)
    signature = base64.b64decode(envelope.signatures[0].sig)
    public_key = keys[envelope.signatures[0].keyid]
    benchmark(public_key.verify, signature, message)
    record_rate(benchmark, "raw verify", 1)


def bench_parse_and_verify_envelope(benchmark, agency_key):
    """Strict DSSE parsing plus verification of one envelope, as received (JSON bytes)."""
    raw, keys = _one_envelope(agency_key)
    assert benchmark(lambda: dsse.verify(dsse.parse_envelope(raw), keys))


def bench_submit_one(benchmark, services, envelopes):
    """One new record through Services.submit: judge, append, catch every read model up, receipt."""
    result = benchmark.pedantic(services.submit, setup=lambda: ((envelopes(1),), {}), rounds=100, warmup_rounds=3)
    assert isinstance(result[0], dict)


def bench_submit_batch_of_1000(benchmark, services, envelopes, record_rate):
    """A batch of 1000 new records through Services.submit, including the read models' catch-up."""
    result = benchmark.pedantic(services.submit, setup=lambda: ((envelopes(BATCH),), {}), rounds=5, warmup_rounds=1)
    assert all(isinstance(r, dict) for r in result)
    record_rate(benchmark, f"batch ingest [{_backend(services)}]", BATCH)


def bench_ledger_write_batch_of_1000(benchmark, services, envelopes, record_rate):
    """The domain's share of a batch: Ledger.submit_many (parse, verify, validate, append), no read models."""
    submit_many = services.ledger.submit_many
    result = benchmark.pedantic(submit_many, setup=lambda: ((envelopes(BATCH),), {}), rounds=5, warmup_rounds=1)
    assert not any(isinstance(r, Exception) for r in result)
    record_rate(benchmark, f"ledger write [{_backend(services)}]", BATCH)


def bench_catch_up_after_1000(benchmark, services, envelopes, record_rate):
    """The read models' share of a batch: every projection catching up with 1000 new records."""

    def append_untimed():
        services.ledger.submit_many(envelopes(BATCH))
        return (), {}

    benchmark.pedantic(services.runner.catch_up, setup=append_untimed, rounds=5, warmup_rounds=1)
    record_rate(benchmark, f"catch-up [{_backend(services)}]", BATCH)


def _backend(services) -> str:
    return "postgres" if services.engine.dialect.name == "postgresql" else "sqlite"
