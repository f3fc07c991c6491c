"""A real HTTP server for the API tests: uvicorn on 127.0.0.1 on a free port, in a thread.

The server and its database live for one test module per backend (starting a server per test
would dominate the suite's runtime), so tests make their own agencies and children with fresh
identifiers (``Live.agency``, ``fresh_nhs_number``) instead of relying on an empty database.
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from stdnum.gb import upn as stdnum_upn

from api import tokens
from api.app import create_app
from api.bootstrap import Services, bootstrap
from api.settings import Settings
from domain import envelope as dsse
from tests.conftest import BACKENDS, POSTGRES_URL, drop_postgres_schema, new_postgres_schema

_serial = itertools.count(random.randrange(10_000_000, 90_000_000))


def fresh_nhs_number() -> str:
    """A valid NHS number (Modulus 11) not used before in this test run."""
    while True:
        digits = f"{next(_serial) % 1_000_000_000:09d}"
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1))) % 11
        if check == 11:
            check = 0
        if check != 10:
            return digits + str(check)


def fresh_upn() -> str:
    """A valid Unique Pupil Number not used before in this test run."""
    body = f"{next(_serial) % 10**11:011d}" + "A"
    return stdnum_upn.calc_check_digit(body) + body


@dataclass
class Live:
    """One running server: its base URL, the Services behind it, and helpers to make test data."""

    base_url: str
    services: Services
    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kwargs)

    def token(self, role: str, *, agency: str | None = None, local_authority: str | None = None, **kw) -> str:
        if role in tokens.HOLDER_REQUIRED:
            kw.setdefault("holder", f"Fictional {role} {next(_serial)}")
        secret, _ = tokens.issue(self.services.engine, role, agency=agency, local_authority=local_authority, **kw)
        return secret

    def agency(self, kind: str = "police", serves: tuple[str, ...] = ("309", "310")) -> str:
        """A newly registered fictional agency with its own key, serving ``serves``; returns its id."""
        agency_id = f"agency-{next(_serial)}"
        key = Ed25519PrivateKey.generate()
        self.services.ledger.register_agency(agency_id, kind, f"Fictional {kind} {agency_id}", key.public_key(),
                                             serves=serves, by="Live Admin (fictional)")
        self.services.runner.catch_up()
        self.keys[agency_id] = key
        return agency_id

    def stored_events(self) -> int:
        """How many events the event store holds: what "nothing stored on a refusal" is checked by."""
        return self.services.ledger.recorder.max_notification_id() or 0

    def envelope(self, payload: dict, key: Ed25519PrivateKey | None = None) -> dict:
        """The payload signed by its agency's key (or ``key``)."""
        return dsse.sign(json.dumps(payload).encode(), key or self.keys[payload["agency"]])


def _serve(services: Services) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(services=services), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


@contextmanager
def served_ledger(backend: str, folder: Path) -> Iterator[tuple[Services, str]]:
    """A fresh ledger on ``backend`` ("sqlite" or "postgres") served on 127.0.0.1; yields its
    Services and base URL, and stops the server and drops the database afterwards."""
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'ledger.db'}"
    else:
        schema = new_postgres_schema()
        url = f"{POSTGRES_URL.split('?')[0]}?schema={schema}"
    services = bootstrap(Settings(database_url=url, checkpoint_key=str(folder / "checkpoint.key")))
    server, thread, base_url = _serve(services)
    try:
        yield services, base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        services.close()
        if schema is not None:
            drop_postgres_schema(schema)


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory) -> Iterator[Live]:
    """A served ledger on each backend, shared by one test module."""
    with served_ledger(request.param, tmp_path_factory.mktemp("live")) as (services, base_url):
        yield Live(base_url, services)
