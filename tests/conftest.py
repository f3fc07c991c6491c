"""Shared fixtures: every storage test runs on both backends (SQLite file, PostgreSQL schema).

PostgreSQL is 127.0.0.1:5432, user postgres, database test (LEDGER_TEST_POSTGRES_URL overrides).
Each test gets its own schema, dropped afterwards. When PostgreSQL cannot be reached the PostgreSQL
cases fail, never skip: CI insists they ran.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.bootstrap import Services, bootstrap
from api.settings import Settings
from domain import envelope as dsse

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SHARED_TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def new_postgres_schema() -> str:
    """Create an empty schema for one test and return its name."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL.split("?")[0], autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return name


def drop_postgres_schema(name: str) -> None:
    with psycopg.connect(POSTGRES_URL.split("?")[0], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty ledger database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    schema = new_postgres_schema()
    try:
        yield f"{POSTGRES_URL.split('?')[0]}?schema={schema}"
    finally:
        drop_postgres_schema(schema)


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(database_url=database_url, checkpoint_key=str(tmp_path / "checkpoint.key"))


@pytest.fixture
def services(settings) -> Iterator[Services]:
    svc = bootstrap(settings)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def agency_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def registered(services, agency_key) -> str:
    """A fictional police force registered with ``agency_key``; returns its agency id."""
    services.ledger.register_agency("northshire-police", "police", "Northshire Police (fictional)", agency_key.public_key(),
                                    serves=["309", "310"], by="Fixture Admin (fictional)")
    return "northshire-police"


def concern(record_id: str = "ref-1", agency: str = "northshire-police", **fields) -> dict:
    """A valid fictional concern payload; keyword arguments replace or add fields (None removes)."""
    payload = {
        "agency": agency,
        "record_id": record_id,
        "type": "concern",
        "subject": {"nhs_number": "9434765919", "given_name": "Ada", "family_name": "Example"},
        "occurred_at": "2026-03-01T09:30:00+00:00",
        "category": "neglect",
        "summary": "Fictional: child seen alone at the bus stop at night.",
        "local_authority": "309",
    }
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


@pytest.fixture
def signed(agency_key) -> Callable[..., dict]:
    """Sign a payload dict (or bytes) with the fixture agency key."""

    def sign(payload: dict | bytes, key: Ed25519PrivateKey | None = None) -> dict:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return dsse.sign(raw, key or agency_key)

    return sign
