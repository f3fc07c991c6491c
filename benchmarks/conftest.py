"""Fixtures for the ingest benchmarks, and the ingest/verify ratio printed at the end of the run.

Each backend gets a fresh ledger (a SQLite file, or its own PostgreSQL schema) with one fictional
agency; envelopes are signed before the clock starts, so only the ledger's own work is timed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.bootstrap import Services, bootstrap
from api.settings import Settings
from domain import envelope as dsse
from tests.conftest import BACKENDS, POSTGRES_URL, concern, drop_postgres_schema, new_postgres_schema

AGENCY = "northshire-police"
GOAL = 0.7

#: What each finished benchmark measured, in items per second: (from the median round, from the best).
RATES_KEY = pytest.StashKey[dict[str, tuple[float, float]]]()


@pytest.fixture
def record_rate(request) -> Callable[..., None]:
    """``record_rate(benchmark, label, items)``: remember a finished benchmark's rates for the
    summary (nothing when benchmarks are disabled)."""

    def record(benchmark, label: str, items: int) -> None:
        metadata = getattr(benchmark, "stats", None)
        if metadata is not None and metadata.stats.min > 0:
            rates = request.config.stash.setdefault(RATES_KEY, {})
            rates[label] = (items / metadata.stats.median, items / metadata.stats.min)

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    """Print batch ingest against raw Ed25519 verification, both measured in this run, from the
    median rounds and from the best rounds (the fairer figure on a machine busy with other work)."""
    rates = terminalreporter.config.stash.get(RATES_KEY, {})
    if "raw verify" not in rates:
        return
    write = terminalreporter.write_line
    raw = rates["raw verify"]
    write("")
    write(f"raw Ed25519 verify: {raw[0]:,.0f} envelopes/s median, {raw[1]:,.0f} best (one core)")
    for backend in ("sqlite", "postgres"):
        ingest = rates.get(f"batch ingest [{backend}]")
        if ingest is None:
            continue
        ratios = [ingest[i] / raw[i] for i in (0, 1)]
        write(
            f"{backend}: batch ingest {ingest[0]:,.0f} records/s median, {ingest[1]:,.0f} best -> "
            f"ratio ingest/verify {ratios[0]:.2f} median, {ratios[1]:.2f} best (goal >= {GOAL})"
        )
        write_share, catch_up = rates.get(f"ledger write [{backend}]"), rates.get(f"catch-up [{backend}]")
        if write_share and catch_up:
            write(
                f"    per record (best rounds): verify alone {1e6 / raw[1]:,.0f} us, ledger write (parse, verify, "
                f"validate, append) {1e6 / write_share[1]:,.0f} us, read models' catch-up {1e6 / catch_up[1]:,.0f} us"
            )


@pytest.fixture(params=BACKENDS)
def services(request, tmp_path) -> Iterator[Services]:
    """A fresh ledger with every read model, on each backend."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        schema = new_postgres_schema()
        url = f"{POSTGRES_URL.split('?')[0]}?schema={schema}"
    svc = bootstrap(Settings(database_url=url, checkpoint_key=str(tmp_path / "checkpoint.key")))
    try:
        yield svc
    finally:
        svc.close()
        if schema is not None:
            drop_postgres_schema(schema)


@pytest.fixture
def agency_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def envelopes(services, agency_key) -> Callable[[int], list[bytes]]:
    """Registers the agency; returns ``make(n)``: n new signed envelopes (JSON bytes), never repeated."""
    services.ledger.register_agency(AGENCY, "police", "Northshire Police (fictional)", agency_key.public_key(),
                                    serves=("309", "310"), by="cli")
    counter = itertools.count()

    def make(n: int) -> list[bytes]:
        payloads = [json.dumps(concern(f"bench-{next(counter)}")).encode() for _ in range(n)]
        return [json.dumps(dsse.sign(payload, agency_key)).encode() for payload in payloads]

    return make
