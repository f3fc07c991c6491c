"""The HTTP API under load, from a load generator in another process, on 127.0.0.1 only.

Run: ``.venv/bin/pytest benchmarks/bench_http.py --benchmark-only -s`` (or
``.venv/bin/python -m benchmarks.bench_http``). Everything is bounded and stops by itself:

* single-POST ingest: POST /v1/records, one new envelope a request, from ``CONNECTIONS`` keep-alive
  connections, compared in the same run with the same app answering the same requests at an
  endpoint that does only the signature check (auth, body limit, strict JSON, DSSE parse, Ed25519
  verify); goal ingest >= 0.6 x verify-only;
* the batch endpoint: records per second through POST /v1/records/batch (1000 a request);
* GET /v1/chronology p50/p99 for a child with 200 entries among ``BENCH_HTTP_EVENTS`` records of
  the synthetic data set (benchmarks/datagen.py; default 20,000, the issue's size is 1000000), each
  GET appending its access entry before it answers.

The server is uvicorn in a subprocess with one worker. PostgreSQL runs too when BENCH_POSTGRES=1.
All data is fictional.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fastapi import Response

from api import tokens
from api.app import create_app
from api.bootstrap import bootstrap
from api.deps import AgencyPrincipal, RequestBody
from domain.jsonstrict import parse_json as parse_strict_json
from benchmarks.datagen import Dataset
from api.settings import Settings
from domain import envelope as dsse
from domain.agencies import agency_aggregate_id
from domain.errors import LedgerError
from domain.records import peek_agency
from tests.conftest import POSTGRES_URL, concern, drop_postgres_schema, new_postgres_schema

AGENCY = "northshire-police"
POSTS = int(os.environ.get("BENCH_HTTP_POSTS", "3000"))
CONNECTIONS = int(os.environ.get("BENCH_HTTP_CONNECTIONS", "32"))
LOADERS = int(os.environ.get("BENCH_HTTP_LOADERS", "2"))
BATCHES = int(os.environ.get("BENCH_HTTP_BATCHES", "5"))
EVENTS = int(os.environ.get("BENCH_HTTP_EVENTS", "20000"))
CHILD_ENTRIES = 200
GETS = int(os.environ.get("BENCH_HTTP_GETS", "500"))
GOAL = 0.6
BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("BENCH_POSTGRES") == "1" else [])


# The server: the real app plus one endpoint that stops after the signature check ---------------


def serve(url: str, checkpoint_key: str, port: int) -> None:
    """Run the API (with ``POST /bench/verify-only``) on 127.0.0.1:port until terminated."""
    import uvicorn

    app = create_app(Settings(database_url=url, checkpoint_key=checkpoint_key))
    keys: dict[str, dict] = {}

    @app.post("/bench/verify-only", status_code=201)
    def verify_only(principal: AgencyPrincipal, body: RequestBody) -> Response:
        """The same request path as POST /v1/records up to and including the Ed25519 check."""
        envelope = dsse.parse_envelope(parse_strict_json(body))
        _, agency = peek_agency(envelope.payload_bytes)
        if agency not in keys:
            keys[agency] = app.state.services.ledger.repository.get(agency_aggregate_id(agency)).signing_keys()
        dsse.verify(envelope, keys[agency])
        return Response(status_code=201)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class Server:
    url: str
    base_url: str
    process: subprocess.Popen
    agency_key: Ed25519PrivateKey
    agency_token: str
    reader_token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database(backend: str, folder: Path) -> tuple[str, str | None]:
    """A fresh database URL on ``backend`` (and the PostgreSQL schema to drop afterwards)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'ledger.db'}", None
    schema = new_postgres_schema()
    return f"{POSTGRES_URL.split('?')[0]}?schema={schema}", schema


def _start(url: str, checkpoint_key: Path) -> tuple[subprocess.Popen, str]:
    """The API for ``url`` in a uvicorn subprocess on a free 127.0.0.1 port, once it answers."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_http", "serve", url, str(checkpoint_key), str(port)],
        cwd=Path(__file__).resolve().parents[1],
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base_url}/v1/openapi.json", timeout=5)
            return process, base_url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the benchmark server did not start") from None
            time.sleep(0.2)


@pytest.fixture(params=BACKENDS, scope="module")
def server(request) -> Iterator[Server]:
    """A served ledger with one fictional agency and its token, for the ingest benchmarks."""
    folder = Path(tempfile.mkdtemp(prefix="bench-http-"))
    url, schema = _database(request.param, folder)
    key = Ed25519PrivateKey.generate()
    services = bootstrap(Settings(database_url=url, checkpoint_key=str(folder / "checkpoint.key")))
    try:
        services.ledger.register_agency(AGENCY, "police", "Northshire Police (fictional)", key.public_key(),
                                        serves=("309", "310"), by="cli")
        services.runner.catch_up()
        agency_token, _ = tokens.issue(services.engine, "agency", agency=AGENCY)
        reader_token, _ = tokens.issue(services.engine, "inquiry", holder="Benchmark reader")
    finally:
        services.close()
    process, base_url = _start(url, folder / "checkpoint.key")
    try:
        yield Server(url, base_url, process, key, agency_token, reader_token)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if schema is not None:
            drop_postgres_schema(schema)


@pytest.fixture(params=BACKENDS, scope="module")
def loaded(request) -> Iterator[tuple[str, str, str, str]]:
    """A served ledger holding the synthetic data set (benchmarks/datagen.py): EVENTS records, one
    focus child with CHILD_ENTRIES of them. Yields the backend, the base URL, an inquiry token and
    that child's NHS number."""
    folder = Path(tempfile.mkdtemp(prefix="bench-http-"))
    url, schema = _database(request.param, folder)
    dataset = Dataset(EVENTS, max(1, EVENTS // 10), focus_entries=CHILD_ENTRIES)
    services = bootstrap(Settings(database_url=url, checkpoint_key=str(folder / "checkpoint.key")))
    try:
        for spec in dataset.agencies.values():
            services.ledger.register_agency(spec.agency_id, spec.kind, spec.name, spec.key.public_key(),
                                            serves=spec.serves, by="cli")
        stream = dataset.envelopes()
        while batch := list(islice(stream, 1000)):
            assert not any(isinstance(r, LedgerError) for r in services.ledger.submit_many(batch))
        services.runner.catch_up()
        reader_token, _ = tokens.issue(services.engine, "inquiry", holder="Benchmark reader")
    finally:
        services.close()
    process, base_url = _start(url, folder / "checkpoint.key")
    try:
        yield request.param, base_url, reader_token, dataset.focus.nhs_number
    finally:
        process.terminate()
        process.wait(timeout=30)
        if schema is not None:
            drop_postgres_schema(schema)


# The load generator (runs in other processes) ----------------------------------------------------


def _signed(prefix: str, count: int, key_bytes: bytes, **fields) -> list[bytes]:
    key = Ed25519PrivateKey.from_private_bytes(key_bytes)
    return [
        json.dumps(dsse.sign(json.dumps(concern(f"{prefix}-{i}", agency=AGENCY, **fields)).encode(), key)).encode()
        for i in range(count)
    ]


def _load(base_url: str, path: str, token: str, bodies: list[bytes], connections: int, start_at: float) -> dict:
    """POST every body from ``connections`` keep-alive connections; returns timings and statuses."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    chunks = [bodies[i::connections] for i in range(connections)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker(chunk: list[bytes]) -> None:
        seen: dict[int, int] = {}
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
            for body in chunk:
                status = client.post(path, content=body).status_code
                seen[status] = seen.get(status, 0) + 1
        with lock:
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    while time.time() < start_at:
        time.sleep(0.001)
    started = time.time()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(worker, chunks))
    return {"started": started, "finished": time.time(), "statuses": statuses}


def _rate(server: Server, path: str, bodies: list[bytes]) -> tuple[float, dict[int, int]]:
    """Requests per second for ``bodies`` posted to ``path`` by ``LOADERS`` load processes."""
    start_at = time.time() + 1.0
    share = [bodies[i::LOADERS] for i in range(LOADERS)]
    per_loader = max(1, CONNECTIONS // LOADERS)
    with ProcessPoolExecutor(LOADERS, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_load, server.base_url, path, server.agency_token, part, per_loader, start_at)
                   for part in share]  # fmt: skip
        results = [f.result() for f in futures]
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return len(bodies) / elapsed, statuses


def _key_bytes(server: Server) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return server.agency_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


# The benchmarks ---------------------------------------------------------------------------------


def bench_single_post_ingest_against_verify_only(benchmark, server, capsys):
    """Single-POST ingest over HTTP against the same endpoint path doing only the signature check."""
    key = _key_bytes(server)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:  # sign outside the clock
        verify_bodies = pool.submit(_signed, "verify", POSTS, key).result()
        ingest_bodies = pool.submit(_signed, "single", POSTS, key).result()
    _rate(server, "/bench/verify-only", verify_bodies[: min(300, POSTS)])  # warm up both paths
    verify_rate, verify_statuses = _rate(server, "/bench/verify-only", verify_bodies)
    ingest_rate, ingest_statuses = benchmark.pedantic(
        _rate, args=(server, "/v1/records", ingest_bodies), rounds=1, iterations=1
    )
    assert verify_statuses == {201: POSTS} and ingest_statuses == {201: POSTS}, (verify_statuses, ingest_statuses)
    ratio = ingest_rate / verify_rate
    benchmark.extra_info.update(ingest_per_s=ingest_rate, verify_only_per_s=verify_rate, ratio=ratio)
    with capsys.disabled():
        print(
            f"\n[{_backend(server)}] single POST over HTTP ({CONNECTIONS} connections, {LOADERS} load processes): "
            f"ingest {ingest_rate:,.0f}/s, verify-only {verify_rate:,.0f}/s -> ratio {ratio:.2f} "
            f"(goal >= {GOAL}: {'met' if ratio >= GOAL else 'not met'})"
        )


def bench_batch_endpoint(benchmark, server, capsys):
    """Records per second through POST /v1/records/batch, 1000 envelopes a request."""
    key = _key_bytes(server)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        envelopes = pool.submit(_signed, "batch", 1000 * BATCHES, key).result()
    bodies = [b'{"envelopes": [' + b",".join(envelopes[i : i + 1000]) + b"]}" for i in range(0, len(envelopes), 1000)]
    headers = {"Authorization": f"Bearer {server.agency_token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=300) as client:
        seconds = []
        for body in bodies:
            started = time.perf_counter()
            response = client.post("/v1/records/batch", content=body)
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200
            assert all("leaf_index" in r for r in response.json()["results"])
    benchmark.pedantic(lambda: None, rounds=1)
    rate = 1000 / statistics.median(seconds)
    benchmark.extra_info.update(batch_records_per_s=rate)
    with capsys.disabled():
        print(f"\n[{_backend(server)}] batch endpoint: {rate:,.0f} records/s (median of {len(seconds)} x 1000)")


def bench_chronology_get_latency(benchmark, loaded, capsys):
    """GET /v1/chronology p50/p99 for a child with 200 entries, each read logged before it answers."""
    backend, base_url, token, nhs_number = loaded
    seconds = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(20):  # warm up
            client.get("/v1/chronology", params={"nhs_number": nhs_number})
        for _ in range(GETS):
            started = time.perf_counter()
            response = client.get("/v1/chronology", params={"nhs_number": nhs_number})
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200 and len(response.json()["entries"]) == CHILD_ENTRIES
    benchmark.pedantic(lambda: None, rounds=1)
    seconds.sort()
    p50, p99 = seconds[len(seconds) // 2] * 1000, seconds[int(len(seconds) * 0.99) - 1] * 1000
    benchmark.extra_info.update(p50_ms=p50, p99_ms=p99)
    with capsys.disabled():
        print(
            f"\n[{backend}] GET /v1/chronology, {CHILD_ENTRIES} entries among {EVENTS:,} records: "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (goal p99 <= 10 ms: {'met' if p99 <= 10 else 'not met'})"
        )


def _backend(server: Server) -> str:
    return "postgres" if server.url.startswith("postgresql") else "sqlite"


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(pytest.main([__file__, "--benchmark-only", "-s", "-c", str(Path(__file__).with_name("pytest.ini"))]))
