"""``ledger token ...`` in-process and ``ledger serve`` as a real process: a token is printed once on
standard output alone, kept only as its hash, listed without secrets, and revocable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api import tokens
from api.bootstrap import bootstrap
from api.cli import main


def run(capsys, settings, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def agency_id(services, agency_key) -> str:
    services.ledger.register_agency("northshire-police", "police", "Northshire Police", agency_key.public_key())
    return "northshire-police"


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(["--role", "agency", "--agency", "northshire-police"], id="agency"),
        pytest.param(["--role", "practitioner", "--local-authority", "309"], id="practitioner"),
        pytest.param(["--role", "inquiry", "--expires", "2099-12-31"], id="inquiry"),
        pytest.param(["--role", "admin"], id="admin"),
    ],
)
def test_token_issue_prints_the_token_alone_and_keeps_only_its_hash(capsys, settings, agency_id, scope):
    code, out, err = run(capsys, settings, "token", "issue", *scope)
    assert code == 0
    secret = out.strip()
    assert out == secret + "\n" and secret.startswith("sgl_") and len(secret) >= 40
    assert secret not in err
    services = bootstrap(settings)
    try:
        with services.engine.connect() as conn:
            stored = conn.execute(select(tokens.api_tokens)).all()
            principal = tokens.authenticate(conn, secret)
    finally:
        services.close()
    assert principal is not None and principal.role == scope[1]
    assert all(secret.encode() not in bytes(row.token_hash) for row in stored)
    assert [bytes(row.token_hash) for row in stored] == [tokens.hash_token(secret)]


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(["--role", "agency", "--agency", "no-such-agency"], id="unregistered-agency"),
        pytest.param(["--role", "agency"], id="agency-without-agency"),
        pytest.param(["--role", "practitioner"], id="practitioner-without-council"),
        pytest.param(["--role", "practitioner", "--local-authority", "30"], id="bad-council-code"),
        pytest.param(["--role", "inquiry", "--local-authority", "309"], id="inquiry-with-council"),
        pytest.param(["--role", "inquiry", "--expires", "2001-01-01"], id="already-expired"),
        pytest.param(["--role", "inquiry", "--expires", "next week"], id="bad-expiry"),
    ],
)
def test_token_issue_refuses_a_token_that_makes_no_sense(capsys, settings, scope):
    code, out, err = run(capsys, settings, "token", "issue", *scope)
    assert code != 0 and out == "" and err.startswith("ledger: ")


def test_token_list_and_revoke(capsys, settings):
    _, out, _ = run(capsys, settings, "token", "issue", "--role", "practitioner", "--local-authority", "309")
    secret = out.strip()
    code, listing, _ = run(capsys, settings, "token", "list")
    assert code == 0 and secret not in listing
    (token_id,) = [line.split()[0] for line in listing.splitlines()[1:]]
    assert "practitioner" in listing and "309" in listing
    code, out, _ = run(capsys, settings, "token", "revoke", token_id)
    assert code == 0 and token_id in out
    services = bootstrap(settings)
    try:
        with services.engine.connect() as conn:
            assert tokens.authenticate(conn, secret) is None
    finally:
        services.close()
    code, _, err = run(capsys, settings, "token", "revoke", "0123456789abcdef")
    assert code != 0 and "no token" in err


def test_expiry_dates_run_to_the_end_of_the_day_utc():
    assert tokens.parse_expiry("2027-01-31").isoformat() == "2027-02-01T00:00:00+00:00"
    assert tokens.parse_expiry("2027-01-31T17:00:00+01:00").isoformat() == "2027-01-31T16:00:00+00:00"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_ledger_serve_runs_the_api(capsys, settings, tmp_path: Path):
    _, out, _ = run(capsys, settings, "token", "issue", "--role", "inquiry")
    token = out.strip()
    port = _free_port()
    # Several worker processes on PostgreSQL (the production shape); one keeps the SQLite run short.
    workers = "2" if settings.database_url.startswith("postgresql") else "1"
    ledger = Path(sys.executable).with_name("ledger")
    server = subprocess.Popen(
        [str(ledger), "serve", "--port", str(port), "--workers", workers, "--database-url", settings.database_url,
         "--checkpoint-key", settings.checkpoint_key],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "LEDGER_DATABASE_URL": "sqlite:///must-not-be-used.db"},
        cwd=tmp_path,
    )
    auth = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/log/key", headers=auth)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "ledger serve did not start"
                time.sleep(0.2)
        assert response.status_code == 200 and "+" in response.text
        assert "server" not in response.headers
        query = httpx.get(f"http://127.0.0.1:{port}/v1/chronology?nhs_number=9434765919", headers=auth)
        assert query.status_code == 404
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    log = stderr.decode()
    assert "GET /v1/log/key 200" in log
    assert "9434765919" not in log and token not in log
    assert not (tmp_path / "must-not-be-used.db").exists()
