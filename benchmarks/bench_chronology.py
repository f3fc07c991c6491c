"""A child's chronology at scale, against a raw indexed SQL fetch of the same rows; rebuild rates.

Run: ``.venv/bin/pytest benchmarks/bench_chronology.py --benchmark-only -s``. The size is bounded by
default so a run takes a few minutes on two cores: ``BENCH_EVENTS`` records (default 100,000) about
``BENCH_CHILDREN`` children (default a tenth of that), from benchmarks/datagen.py; the issue's scale is
``BENCH_EVENTS=1000000 BENCH_CHILDREN=100000``. SQLite always; PostgreSQL too with ``BENCH_POSTGRES=1``.

For each backend it loads the signed records (appended only), rebuilds each child-centred read
model from position zero (events/s; goal >= 30,000), then times, for the focus child with 200
entries: ``chronology()`` now and as of a past moment, ``risk_prompts()``, and the raw fetch of the
same 200 rows by the indexed key table (goal: chronology p99 <= 10 ms and <= 5 x raw). The summary
prints the size run, the rates and the ratios. All data is fictional.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

import pytest

from api.bootstrap import Services, bootstrap
from api.cli_projections import refresh_statistics
from api.settings import Settings
from benchmarks.datagen import Dataset, summary_line
from domain.errors import LedgerError
from projections.chronology import chronology
from projections.identity import resolve_child
from projections.risk import risk_prompts
from tests.conftest import POSTGRES_URL, drop_postgres_schema, new_postgres_schema

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
CHILDREN = int(os.environ.get("BENCH_CHILDREN", str(max(1, EVENTS // 10))))
BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("BENCH_POSTGRES") == "1" else [])
REBUILT = ("identity", "chronology", "matching", "risk")
ROUNDS = 300
LINES: dict[str, list[str]] = {}
TIMES: dict[tuple[str, str], list[float]] = {}

RAW = """SELECT * FROM chronology_entries WHERE notification_id IN
         (SELECT notification_id FROM chronology_entry_keys WHERE key IN ({marks}))
         ORDER BY sort_us, leaf_index"""


class Summary:
    """Prints every backend's measurements after the run."""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        for backend, lines in LINES.items():
            terminalreporter.write_line("")
            terminalreporter.write_line(f"chronology benchmark [{backend}]")
            for line in lines + _ratios(backend):
                terminalreporter.write_line(f"  {line}")


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _ratios(backend: str) -> list[str]:
    lines = []
    for name in ("chronology", "chronology per request", "chronology as_of", "risk prompts", "raw fetch"):
        samples = TIMES.get((backend, name))
        if samples:
            lines.append(f"{name}: p50 {_p(samples, 0.5):.2f} ms, p99 {_p(samples, 0.99):.2f} ms ({len(samples)} rounds)")
    raw, ours = TIMES.get((backend, "raw fetch")), TIMES.get((backend, "chronology"))
    if raw and ours:
        ratio = _p(ours, 0.5) / _p(raw, 0.5)
        p99 = _p(ours, 0.99)
        lines.append(f"chronology / raw (p50): {ratio:.1f} x (goal <= 5: {'met' if ratio <= 5 else 'not met'}); "
                     f"p99 {p99:.2f} ms (goal <= 10: {'met' if p99 <= 10 else 'not met'})")  # fmt: skip
    return lines


@dataclass
class Scale:
    services: Services
    dataset: Dataset
    backend: str
    child_id: str
    keys: tuple[str, ...]


@pytest.fixture(scope="module", params=BACKENDS)
def scale(request, tmp_path_factory) -> Iterator[Scale]:
    """A ledger loaded with the synthetic data set, its child-centred read models rebuilt (timed)."""
    if not any(isinstance(p, Summary) for p in request.config.pluginmanager.get_plugins()):
        request.config.pluginmanager.register(Summary())
    backend, schema = request.param, None
    folder = tmp_path_factory.mktemp(backend)
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'ledger.db'}"
    else:
        schema = new_postgres_schema()
        url = f"{POSTGRES_URL.split('?')[0]}?schema={schema}"
    services = bootstrap(Settings(database_url=url, checkpoint_key=str(folder / "checkpoint.key")))
    lines = LINES.setdefault(backend, [])
    try:
        dataset = Dataset(EVENTS, CHILDREN)
        lines.append(f"size: {summary_line(dataset)}")
        for spec in dataset.agencies.values():
            services.ledger.register_agency(spec.agency_id, spec.kind, spec.name, spec.key.public_key(),
                                            serves=spec.serves, by="cli")
        started, stream = time.perf_counter(), dataset.envelopes()
        while batch := list(islice(stream, 1000)):
            refused = [r for r in services.ledger.submit_many(batch) if isinstance(r, LedgerError)]
            assert not refused, refused[0]
        loaded = time.perf_counter() - started
        size = services.ledger.recorder.max_notification_id()
        lines.append(f"load (sign + verify + append, no read models): {EVENTS / loaded:,.0f} records/s")
        total = 0.0
        for name in REBUILT:
            started = time.perf_counter()
            services.runner.rebuild(name)
            refresh_statistics(services.engine, services.runner.projections[name].tables)  # as ledger rebuild does
            seconds = time.perf_counter() - started
            total += seconds
            lines.append(f"rebuild {name}: {size / seconds:,.0f} events/s ({seconds:.1f} s)")
        lines.append(f"rebuild of all four in turn: {total:.1f} s, {size / total:,.0f} events/s "
                     f"(the goal, >= 30,000 events/s, is for each read model above)")  # fmt: skip
        started = time.perf_counter()
        services.runner.catch_up()  # the other read models (integrity, access), for a complete ledger
        lines.append(f"catch-up of the other read models: {size / (time.perf_counter() - started):,.0f} events/s")
        with services.engine.connect() as conn:
            child = resolve_child(conn, nhs_number=dataset.focus.nhs_number)
            assert len(chronology(conn, child.id)) == dataset.focus_entries
        yield Scale(services, dataset, backend, child.id, child.keys)
    finally:
        services.close()
        if schema is not None:
            drop_postgres_schema(schema)


def _timed(benchmark, scale: Scale, name: str, function, *args, **kwargs):
    """Run ``function`` ROUNDS times under pytest-benchmark and keep every round's time for p99."""
    samples = TIMES.setdefault((scale.backend, name), [])

    def once():
        started = time.perf_counter()
        result = function(*args, **kwargs)
        samples.append(time.perf_counter() - started)
        return result

    return benchmark.pedantic(once, rounds=ROUNDS, iterations=1, warmup_rounds=10)


def bench_chronology_of_a_child_with_200_entries(benchmark, scale: Scale) -> None:
    with scale.services.engine.connect() as conn:
        entries = _timed(benchmark, scale, "chronology", chronology, conn, scale.child_id)
    assert len(entries) == scale.dataset.focus_entries


def bench_raw_indexed_fetch_of_the_same_rows(benchmark, scale: Scale) -> None:
    connection = scale.services.engine.raw_connection()
    try:
        mark = "?" if scale.backend == "sqlite" else "%s"
        query = RAW.format(marks=", ".join(mark for _ in scale.keys))

        def fetch() -> list:
            cursor = connection.cursor()
            cursor.execute(query, scale.keys)
            return cursor.fetchall()

        rows = _timed(benchmark, scale, "raw fetch", fetch)
    finally:
        connection.close()
    assert len(rows) == scale.dataset.focus_entries


def bench_chronology_with_its_own_connection(benchmark, scale: Scale) -> None:
    """As an API request does it: a pooled connection and transaction per read."""

    def request() -> list:
        with scale.services.engine.connect() as conn:
            return chronology(conn, scale.child_id)

    assert len(_timed(benchmark, scale, "chronology per request", request)) == scale.dataset.focus_entries


def bench_chronology_as_of_a_past_moment(benchmark, scale: Scale) -> None:
    with scale.services.engine.connect() as conn:
        whole = chronology(conn, scale.child_id)
        middle = sorted(e.recorded_at for e in whole)[len(whole) // 2]
        entries = _timed(benchmark, scale, "chronology as_of", chronology, conn, scale.child_id, as_of=middle)
    assert 0 < len(entries) < len(whole) and isinstance(middle, datetime)


def bench_risk_prompts_of_that_child(benchmark, scale: Scale) -> None:
    with scale.services.engine.connect() as conn:
        prompts = _timed(benchmark, scale, "risk prompts", risk_prompts, conn, scale.child_id)
    LINES[scale.backend].append(f"focus child: {len(prompts)} prompts, "
                                f"rules {sorted({p.rule for p in prompts})}")  # fmt: skip
    assert prompts and all(p.records for p in prompts)
