"""The ``ledger`` command (SPEC section 5): in-process on both backends, and once as a real process.

Refusals must be one line on standard error with a non-zero exit; ``submit`` prints one JSON line
per envelope, in input order, and exits 0 only if none was refused.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import EXIT_OPERATIONAL, EXIT_REFUSED, EXIT_USAGE, main
from api.problems import TITLES, from_ledger_error
from domain import envelope as dsse
from domain.errors import MalformedEnvelope
from tests.conftest import concern

AGENCY = "northshire-police"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Cli:
    """Runs ``ledger`` in-process against one database, returning (exit status, stdout, stderr)."""

    def __init__(self, database_url: str, tmp_path: Path, capsys):
        self.options = ["--database-url", database_url, "--checkpoint-key", str(tmp_path / "checkpoint.key")]
        self.tmp_path = tmp_path
        self.capsys = capsys

    def __call__(self, *args: str, storage: bool = True) -> tuple[int, str, str]:
        argv = list(args)
        if storage:  # the options belong to the last subcommand (e.g. after "agency add")
            argv[1 if args[0] != "agency" else 2 : 1 if args[0] != "agency" else 2] = self.options
        status = main(argv)
        out, err = self.capsys.readouterr()
        return status, out, err

    def write(self, name: str, data: bytes | str) -> str:
        path = self.tmp_path / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(path)


@pytest.fixture
def cli(database_url, tmp_path, capsys) -> Cli:
    return Cli(database_url, tmp_path, capsys)


@pytest.fixture
def agency(cli) -> str:
    """An initialised ledger with the fictional police force registered; returns the key prefix."""
    assert cli("init")[0] == 0
    prefix = str(cli.tmp_path / "police")
    assert cli("keygen", "--out", prefix, storage=False)[0] == 0
    status, out, err = cli("agency", "add", AGENCY, "--kind", "police", "--name", "Northshire Police (fictional)",
                           "--public-key", prefix + ".pub", "--serves", "309")  # fmt: skip
    assert (status, err) == (0, ""), err
    assert out.startswith(f"registered agency {AGENCY} serving 309 with key ")
    return prefix


def one_line_error(err: str) -> str:
    assert err.startswith("ledger: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


def test_init_creates_the_checkpoint_key_once_and_is_safe_to_repeat(cli):
    status, out, err = cli("init")
    assert (status, err) == (0, "") and out.startswith("ledger ready at ")
    key = cli.tmp_path / "checkpoint.key"
    assert mode(key) == 0o600
    first = key.read_bytes()
    assert cli("init")[0] == 0
    assert key.read_bytes() == first


def test_init_hides_a_database_password(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", "mysql://clerk:s3cret@db.example/ledger")
    assert main(["init", "--checkpoint-key", str(tmp_path / "k")]) == EXIT_USAGE
    assert "s3cret" not in capsys.readouterr().err


def test_keygen_writes_a_private_key_only_its_owner_can_read(cli):
    prefix = cli.tmp_path / "school"
    status, out, _ = cli("keygen", "--out", str(prefix), storage=False)
    assert status == 0
    private, public = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    assert mode(private) == 0o600
    assert b"BEGIN PRIVATE KEY" in private.read_bytes() and b"BEGIN PUBLIC KEY" in public.read_bytes()
    key = dsse.load_private_key_pem(private.read_bytes())
    assert dsse.key_id(key.public_key()) == dsse.key_id(dsse.load_public_key_pem(public.read_bytes()))
    assert dsse.key_id(key.public_key()) in out and "PRIVATE" not in out
    status, _, err = cli("keygen", "--out", str(prefix), storage=False)
    assert status == EXIT_USAGE and "refusing to overwrite" in one_line_error(err)
    assert dsse.load_private_key_pem(private.read_bytes()).public_key() == key.public_key()


def test_sign_then_submit_appends_and_repeats_answer_the_same_receipt(cli, agency):
    record = cli.write("record.json", json.dumps(concern(), indent=2))
    status, envelope_text, err = cli("sign", "--key", agency + ".key", record, storage=False)
    assert (status, err) == (0, "")
    envelope = json.loads(envelope_text)
    assert dsse.parse_envelope(envelope).payload_bytes == Path(record).read_bytes()  # signed as it is
    path = cli.write("envelope.json", envelope_text)

    status, out, err = cli("submit", path)
    assert (status, err) == (0, "")
    (receipt,) = [json.loads(line) for line in out.splitlines()]
    assert receipt["agency"] == AGENCY and receipt["record_id"] == "ref-1" and receipt["leaf_index"] == 2
    assert cli("submit", path)[:2] == (0, out)


@pytest.mark.parametrize(
    ("content", "why"),
    [("Fictional: notes, not JSON", "not valid JSON"), ("[1, 2]", "JSON object"),
     (json.dumps(concern(category="bruise")), "category must be one of")],
)  # fmt: skip
def test_sign_warns_on_standard_error_when_the_file_is_not_a_json_record(cli, agency, content, why):
    path = cli.write("odd.json", content)
    status, out, err = cli("sign", "--key", agency + ".key", path, storage=False)
    assert status == 0 and dsse.parse_envelope(out).payload_bytes == content.encode()  # signed as it is
    assert err.startswith("ledger: warning: ") and why in err and err.count("\n") == 1


def test_submit_reads_json_lines_and_reports_each_envelope_in_order(cli, agency):
    key = dsse.load_private_key_pem(Path(agency + ".key").read_bytes())
    good = [json.dumps(dsse.sign(json.dumps(concern(f"ref-{i}")).encode(), key)) for i in range(2)]
    bad = json.dumps(dsse.sign(json.dumps(concern("ref-9", category="bruise")).encode(), key))
    lines = cli.write("batch.jsonl", "\n".join([good[0], "{broken", bad, "", good[1]]) + "\n")
    status, out, err = cli("submit", lines)
    assert (status, err) == (EXIT_REFUSED, "")
    results = [json.loads(line) for line in out.splitlines()]
    assert [r.get("record_id") or r["type"].rsplit("/", 1)[1] for r in results] == [
        "ref-0", "malformed-envelope", "invalid-payload", "ref-1"]  # fmt: skip
    assert [r.get("status") for r in results] == [None, 400, 422, None]  # the HTTP API's problems, exactly
    assert "category" in results[2]["detail"]


def test_submit_of_a_bad_file_is_refused_with_one_line(cli, agency):
    path = cli.write("notes.txt", "Fictional: not an envelope at all")
    status, out, err = cli("submit", path)
    assert status == EXIT_REFUSED and err == ""
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert result == from_ledger_error(MalformedEnvelope(result["detail"]))
    assert result["type"].endswith("/malformed-envelope") and result["title"] == TITLES["malformed-envelope"]


def test_a_missing_file_is_one_line_and_an_operational_error(cli, agency):
    missing = str(cli.tmp_path / "absent.json")
    for args in (("submit", missing), ("sign", "--key", agency + ".key", missing)):
        status, out, err = cli(*args, storage=args[0] != "sign")
        assert status == EXIT_OPERATIONAL and out == ""
        assert "No such file or directory" in one_line_error(err) and "absent.json" in err


def test_agency_administration_refusals_are_one_line(cli, agency):
    status, _, err = cli("agency", "add", AGENCY, "--kind", "police", "--name", "Again", "--public-key", agency + ".pub",
                         "--serves", "309")  # fmt: skip
    assert status == EXIT_USAGE and "already registered" in one_line_error(err)
    not_pem = cli.write("junk.pub", "not a key")
    status, _, err = cli("agency", "add", "northshire-school", "--kind", "school", "--name", "S", "--public-key", not_pem,
                         "--serves", "309")  # fmt: skip
    assert status == EXIT_USAGE and "PEM" in one_line_error(err)
    status, _, err = cli("agency", "revoke-key", AGENCY, "00" * 32)
    assert status == EXIT_USAGE and "has no key" in one_line_error(err)
    status, _, err = cli("agency", "add-key", "nowhere", "--public-key", agency + ".pub")
    assert status == EXIT_USAGE and "not registered" in one_line_error(err)


def test_key_rotation_and_revocation_through_the_cli(cli, agency):
    old_key = dsse.load_private_key_pem(Path(agency + ".key").read_bytes())
    new_prefix = str(cli.tmp_path / "police-2026")
    cli("keygen", "--out", new_prefix, storage=False)
    status, out, _ = cli("agency", "add-key", AGENCY, "--public-key", new_prefix + ".pub", "--signed-by", agency + ".key")
    assert status == 0 and out.startswith("added key ")
    old_id = dsse.key_id(old_key.public_key())
    status, out, _ = cli("agency", "revoke-key", AGENCY, old_id, "--reason", "rotated (fictional)")
    assert status == 0 and old_id in out

    record = cli.write("record.json", json.dumps(concern("ref-2")))
    answers = []
    for prefix in (agency, new_prefix):
        _, envelope, _ = cli("sign", "--key", prefix + ".key", record, storage=False)
        status, out, _ = cli("submit", cli.write("envelope.json", envelope))
        answers.append((status, json.loads(out)))
    (old_status, refusal), (new_status, receipt) = answers
    assert old_status == EXIT_REFUSED and refusal["type"].endswith("/signature-rejected") and "revoked" in refusal["detail"]
    assert new_status == 0 and receipt["record_id"] == "ref-2"


@pytest.mark.slow
def test_the_installed_command_runs_end_to_end(tmp_path):
    """The console script in a fresh directory with the defaults: sqlite:///ledger.db and
    ledger-checkpoint.key in the working directory."""
    ledger = Path(sys.executable).with_name("ledger")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(ledger), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert run("init").returncode == 0
    assert (tmp_path / "ledger.db").exists() and mode(tmp_path / "ledger-checkpoint.key") == 0o600
    assert run("keygen", "--out", "police").returncode == 0
    assert mode(tmp_path / "police.key") == 0o600
    added = run("agency", "add", AGENCY, "--kind", "police", "--name", "Northshire Police (fictional)", "--public-key", "police.pub",
                "--serves", "309")  # fmt: skip
    assert added.returncode == 0, added.stderr
    duplicate = run("agency", "add", AGENCY, "--kind", "police", "--name", "Again", "--public-key", "police.pub", "--serves", "309")
    assert duplicate.returncode != 0 and "already registered" in one_line_error(duplicate.stderr)

    (tmp_path / "record.json").write_text(json.dumps(concern()))
    signed = run("sign", "--key", "police.key", "record.json")
    assert signed.returncode == 0, signed.stderr
    (tmp_path / "envelope.json").write_text(signed.stdout)
    submitted = run("submit", "envelope.json")
    assert submitted.returncode == 0, submitted.stderr
    receipt = json.loads(submitted.stdout)
    assert (receipt["record_id"], receipt["leaf_index"]) == ("ref-1", 2)

    (tmp_path / "bad.json").write_text('{"payloadType": "x"}')
    bad = run("submit", "bad.json")
    assert bad.returncode != 0 and json.loads(bad.stdout)["type"].endswith("/malformed-envelope")
    assert bad.stdout.count("\n") == 1 and "Traceback" not in bad.stderr
    missing = run("submit", "nowhere.json")
    assert missing.returncode != 0 and "No such file" in one_line_error(missing.stderr)
