"""``ledger token ...`` in-process and ``ledger serve`` as a real process: a token is printed once on
standard output alone, kept only as its hash, listed without secrets, and revocable."""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api import tokens
from api.bootstrap import bootstrap
from api.cli import main
from domain.entries import decode_entry
from tests.integration.test_people_entries import all_entries, secret_forms


def run(capsys, settings, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def agency_id(services, agency_key) -> str:
    services.ledger.register_agency("northshire-police", "police", "Northshire Police", agency_key.public_key(),
                                    serves=["309"], by="cli")
    return "northshire-police"


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(["--role", "agency", "--agency", "northshire-police"], id="agency"),
        pytest.param(["--role", "practitioner", "--local-authority", "309", "--holder", "Sam Example"], id="practitioner"),
        pytest.param(["--role", "inquiry", "--expires", "2099-12-31", "--holder", "Review Panel"], id="inquiry"),
        pytest.param(["--role", "admin", "--holder", "Jo Admin"], id="admin"),
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
        pytest.param(["--role", "inquiry"], id="inquiry-without-holder"),
        pytest.param(["--role", "practitioner", "--local-authority", "309"], id="practitioner-without-holder"),
        pytest.param(["--role", "admin", "--holder", "Jo\u0000Admin"], id="holder-with-nul"),
        pytest.param(["--role", "admin", "--holder", ""], id="empty-holder"),
    ],
)
def test_token_issue_refuses_a_token_that_makes_no_sense(capsys, settings, scope):
    code, out, err = run(capsys, settings, "token", "issue", *scope)
    assert code != 0 and out == "" and err.startswith("ledger: ")


def test_token_list_and_revoke(capsys, settings):
    _, out, _ = run(capsys, settings, "token", "issue", "--role", "practitioner", "--local-authority", "309",
                    "--holder", "Sam Example (MASH)")  # fmt: skip
    secret = out.strip()
    code, listing, _ = run(capsys, settings, "token", "list")
    assert code == 0 and secret not in listing
    (token_id,) = [line.split()[0] for line in listing.splitlines()[1:]]
    assert "practitioner" in listing and "309" in listing and "Sam Example (MASH)" in listing
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


def test_token_issue_and_revoke_at_the_command_line_are_log_entries_naming_cli_never_the_secret(capsys, settings):
    """SPEC 6.1: one ``token_issued`` and one ``token_revoked`` entry, with the token's id, holder,
    role, scope and expiry and the command line as the administrator; no form of the secret."""
    _, out, _ = run(capsys, settings, "token", "issue", "--role", "practitioner", "--local-authority", "309",
                    "--holder", "Sam Example (MASH)", "--expires", "2099-12-31")  # fmt: skip
    secret = out.strip()
    _, listing, _ = run(capsys, settings, "token", "list")
    (token_id,) = [line.split()[0] for line in listing.splitlines()[1:]]
    for _ in range(2):  # revoking again keeps the first revocation and logs nothing more
        assert run(capsys, settings, "token", "revoke", token_id)[0] == 0
    services = bootstrap(settings)
    try:
        entries = all_entries(services)
    finally:
        services.close()
    decoded = [decode_entry(entry) for entry in entries]
    issued = [e for e in decoded if e["kind"] == "token_issued"]
    revoked = [e for e in decoded if e["kind"] == "token_revoked"]
    assert len(issued) == len(revoked) == 1
    expected = {"token_id": token_id, "holder": "Sam Example (MASH)", "role": "practitioner", "agency": None,
                "local_authority": "309", "expires_at": "2100-01-01T00:00:00.000000Z",
                "by": {"holder": "cli", "role": "admin", "token_id": "cli"}}  # fmt: skip
    assert {k: issued[0][k] for k in expected} == expected == {k: revoked[0][k] for k in expected}
    assert set(issued[0]) - {"ledger_sig"} == {"v", "kind", "at", "originator", *expected}
    assert set(revoked[0]) - {"ledger_sig"} == {"v", "kind", "at", "originator", "revoked_at", *expected}
    for form in secret_forms(secret):
        assert not any(form in entry for entry in entries)


def test_expiry_dates_run_to_the_end_of_the_day_utc():
    assert tokens.parse_expiry("2027-01-31").isoformat() == "2027-02-01T00:00:00+00:00"
    assert tokens.parse_expiry("2027-01-31T17:00:00+01:00").isoformat() == "2027-01-31T16:00:00+00:00"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_hands_uvicorn_the_worker_health_check_timeout(monkeypatch, capsys, settings):
    """--worker-timeout, else LEDGER_WORKER_TIMEOUT, else 60 seconds, as uvicorn's own option."""
    import uvicorn

    assert "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    options = ["--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]
    assert main(["serve", "--workers", "2", *options]) == 0
    monkeypatch.setenv("LEDGER_WORKER_TIMEOUT", "45")
    assert main(["serve", "--workers", "2", *options]) == 0
    assert main(["serve", "--workers", "2", "--worker-timeout", "90", *options]) == 0
    assert [(c["workers"], c["timeout_worker_healthcheck"]) for c in calls] == [(2, 60), (2, 45), (2, 90)]
    assert all(c["access_log"] is False and c["server_header"] is False for c in calls)


@contextmanager
def busy_core(seconds: float = 300) -> Iterator[None]:
    """A process spinning on one core for the block (and never longer than ``seconds``)."""
    spin = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    busy = subprocess.Popen([sys.executable, "-c", spin])
    try:
        yield
    finally:
        busy.kill()
        busy.wait(30)


@pytest.mark.slow
def test_ledger_serve_with_two_workers_runs_the_api_on_a_loaded_host(capsys, settings, tmp_path: Path):
    """Both workers start and stay up while another process keeps a core busy (uvicorn's default
    5-second health check could replace workers still importing the app), and the API answers
    over real HTTP without logging tokens or query strings."""
    _, out, _ = run(capsys, settings, "token", "issue", "--role", "inquiry", "--holder", "Review Panel")
    token = out.strip()
    port = _free_port()
    ledger = Path(sys.executable).with_name("ledger")
    auth = {"Authorization": f"Bearer {token}"}
    with busy_core():
        server = subprocess.Popen(
            [str(ledger), "serve", "--port", str(port), "--workers", "2", "--worker-timeout", "120",
             "--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key],  # fmt: skip
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LEDGER_DATABASE_URL": "sqlite:///must-not-be-used.db"},
            cwd=tmp_path,
        )
        log = ""
        try:
            deadline = time.monotonic() + 240  # generous: 2 shared cores, one of them kept busy
            while True:
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/v1/log/key", headers=auth, timeout=60)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, "ledger serve exited"
                    assert time.monotonic() < deadline, "ledger serve did not answer within 240 s"
                    time.sleep(0.5)
            assert response.status_code == 200 and "+" in response.text
            assert "server" not in response.headers
            # Later requests are served too, by whichever worker takes them.
            statuses = {httpx.get(f"http://127.0.0.1:{port}/v1/log/key", headers=auth, timeout=60).status_code
                        for _ in range(6)}  # fmt: skip
            assert statuses == {200}
            query = httpx.get(f"http://127.0.0.1:{port}/v1/chronology?nhs_number=9434765919", headers=auth, timeout=60)
            assert query.status_code == 404
        finally:
            server.terminate()
            log = server.communicate(timeout=60)[0].decode()
            print(log)  # shown by pytest when the test fails
    assert "GET /v1/log/key 200" in log
    assert log.count("Started server process") == 2 and "died" not in log and "not ready" not in log
    assert "9434765919" not in log and token not in log
    assert not (tmp_path / "must-not-be-used.db").exists()
