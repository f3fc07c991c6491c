"""A witness as a second process against a real ``ledger serve`` on 127.0.0.1, on both backends: it
cosigns the checkpoints (the served checkpoint then carries its line, and ``ledger verify`` can
require it), and refuses a rewritten log (the same key and origin, another history), printing both
checkpoints as evidence, exit status 1. Every process is bounded in time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import tokens
from api.bootstrap import bootstrap
from api.cli import main
from api.settings import Settings
from domain import envelope as dsse
from domain.checkpoint import parse_vkey, verify_checkpoint, vkey
from domain.cosignature import cosignatures, cosigner_vkey, parse_cosigner_vkey
from tests.conftest import POSTGRES_URL, concern, drop_postgres_schema, new_postgres_schema
from tests.served_process import ledger_serve

RUN_CLI = "import sys\nfrom api.cli import main\nsys.exit(main(sys.argv[1:]))\n"
NAME = "witness.example/w1"


def prepare(settings: Settings, agency: str, records: int, vkey: str | None = None) -> tuple[str, str, list]:
    """A ledger with an agency, optionally a registered witness; returns agency and inquiry tokens
    and the envelopes to submit over HTTP."""
    services = bootstrap(settings)
    try:
        key = Ed25519PrivateKey.generate()
        services.ledger.register_agency(agency, "police", f"Fictional {agency}", key.public_key(),
            serves=["309", "310"], by="cli")
        services.runner.catch_up()
        if vkey is not None:
            from api.usecases.admin import COMMAND_LINE

            services.log.add_witness(COMMAND_LINE, vkey)
        agency_token, _ = tokens.issue(services.engine, "agency", agency=agency)
        inquiry_token, _ = tokens.issue(services.engine, "inquiry", holder="Fictional witness operator")
    finally:
        services.close()
    envelopes = [dsse.sign(json.dumps(concern(f"{agency}-{i}", agency=agency)).encode(), key) for i in range(records)]
    return agency_token, inquiry_token, envelopes


def submit(base_url: str, token: str, envelopes: list) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        for envelope in envelopes:
            assert client.post("/v1/records", json=envelope).status_code == 201


def run_witness(base_url: str, token: str, folder: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", RUN_CLI, "witness", "run", "--url", base_url, "--state", str(folder / "w1.state"),
               "--key", str(folder / "w1.key"), "--name", NAME, "--once", *extra]  # fmt: skip
    env = {**os.environ, "LEDGER_TOKEN": token}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=folder)


def served_checkpoint(base_url: str, token: str) -> str:
    response = httpx.get(f"{base_url}/v1/log/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert response.status_code == 200
    return response.text


@contextmanager
def another_database(settings: Settings, folder: Path):
    """A second, empty database on the same backend as ``settings``."""
    if settings.database_url.startswith("sqlite"):
        yield f"sqlite:///{folder / 'rewritten.db'}"
        return
    schema = new_postgres_schema()
    try:
        yield f"{POSTGRES_URL.split('?')[0]}?schema={schema}"
    finally:
        drop_postgres_schema(schema)


def test_a_witness_cosigns_the_log_and_refuses_a_rewritten_one(settings, tmp_path, capsys) -> None:
    assert main(["witness", "keygen", "--name", NAME, "--out", str(tmp_path / "w1.key")]) == 0
    witness_vkey = capsys.readouterr().out.strip()
    cosigner = parse_cosigner_vkey(witness_vkey)
    agency_token, token, envelopes = prepare(settings, "north-police", 5, witness_vkey)

    with ledger_serve(settings, tmp_path) as served:
        submit(served.base_url, agency_token, envelopes[:3])
        first = run_witness(served.base_url, token, tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr + served.log()
        assert "cosigned the checkpoint of size 5" in first.stdout
        note = served_checkpoint(served.base_url, token)
        assert [c.witness for c in cosignatures(note, [cosigner])] == [NAME], note
        log_vkey = httpx.get(f"{served.base_url}/v1/log/key", headers={"Authorization": f"Bearer {token}"}).text
        assert verify_checkpoint(note, parse_vkey(log_vkey.strip())).size == 5, "the log's own signature stands"
        state = tmp_path / "w1.state"
        assert state.stat().st_mode & 0o777 == 0o600 and json.loads(state.read_text())["size"] == 5

        submit(served.base_url, agency_token, envelopes[3:])
        second = run_witness(served.base_url, token, tmp_path)
        assert second.returncode == 0 and "size 7" in second.stdout, second.stdout + second.stderr
        assert cosignatures(served_checkpoint(served.base_url, token), [cosigner])[0].witness == NAME
        again = run_witness(served.base_url, token, tmp_path)
        assert again.returncode == 0 and "nothing new" in again.stdout, again.stdout + again.stderr

        stranger = vkey(parse_vkey(log_vkey.strip()).name, Ed25519PrivateKey.generate().public_key())
        changed = run_witness(served.base_url, token, tmp_path, "--vkey", stranger)
        assert changed.returncode == 1 and "changed key" in changed.stdout, changed.stdout + changed.stderr
        cosigned_before = json.loads(state.read_text())["checkpoint"]

    common = ["--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]
    assert main(["verify", "--processes", "0", *common, "--witness", f"w1={witness_vkey}"]) == 0
    assert "witnessed: the checkpoint of size 7 is cosigned by 1 of 1" in capsys.readouterr().out
    other = cosigner_vkey("w2", Ed25519PrivateKey.generate().public_key())
    argv = [*common, "--witness", f"w1={witness_vkey}", "--witness", f"w2={other}", "--witnesses", "2"]
    assert main(["verify", "--processes", "0", *argv]) == 1
    assert "witnesses: no checkpoint" in capsys.readouterr().out

    with another_database(settings, tmp_path) as url:  # the same key and origin, another history
        rewritten = replace(settings, database_url=url)
        agency_token, token, envelopes = prepare(rewritten, "south-police", 9)
        with ledger_serve(rewritten, tmp_path) as served:
            submit(served.base_url, agency_token, envelopes)
            refused = run_witness(served.base_url, token, tmp_path)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert "REFUSED to cosign" in refused.stdout and "no valid consistency proof from 7 to 11" in refused.stdout
            new_note = served_checkpoint(served.base_url, token)
            assert cosigned_before in refused.stdout and new_note.split("\n\n")[0] in refused.stdout
            assert not cosignatures(new_note, [cosigner]), "nothing was cosigned"
    assert json.loads(state.read_text())["checkpoint"] == cosigned_before, "the state still holds the old log"
