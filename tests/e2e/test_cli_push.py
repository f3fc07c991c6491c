"""``ledger push`` against a real ``ledger serve`` on 127.0.0.1, on both backends: a load of 300
records survives the server being killed half way and started again, leaving a receipts file
whose every receipt verifies and a log holding each record once; a second run resumes (a torn
receipt line included); refusals are problem lines; a wrong vkey or token stops it before a
record leaves; a log that does not extend the one the last run saw is reported."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import tokens
from api.keyfiles import read_private_key, write_private_key
from domain.checkpoint import Checkpoint, sign_checkpoint, vkey
from domain.entries import decode_entry
from domain.merkle import leaf_hash
from projections.checkpoints import entries
from tests.conftest import concern
from tests.served_process import free_port

AGENCY = "northshire-police"
RUN_CLI = "import sys\nfrom api.cli import main\nsys.exit(main(sys.argv[1:]))\n"
# Run in the first server: it hangs at its 16th batch, so the test kills it at a known point.
HANG_AFTER = """
import threading
import api.usecases.agencies as _agencies
_original, _calls = _agencies.Agencies.submit_batch, []
def _submit_batch(self, principal, envelopes):
    _calls.append(1)
    if len(_calls) > {batches}:
        threading.Event().wait()
    return _original(self, principal, envelopes)
_agencies.Agencies.submit_batch = _submit_batch
"""


@contextmanager
def serving(settings, folder: Path, port: int, preamble: str = "") -> Iterator[subprocess.Popen]:
    """``ledger serve`` on ``port`` until the block ends (or the test kills it)."""
    log = (folder / f"serve-{port}-{time.monotonic_ns()}.log").open("wb")
    command = [sys.executable, "-c", preamble + RUN_CLI, "serve", "--port", str(port),
               "--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"ledger serve did not start:\n{Path(log.name).read_text()}") from None
                time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        log.close()


class Agency:
    """A registered fictional agency: its key file, a token file, and the ledger's vkey."""

    def __init__(self, services, folder: Path):
        self.folder = folder
        self.key = Ed25519PrivateKey.generate()
        self.key_file = folder / "police.key"
        write_private_key(self.key_file, self.key)
        services.ledger.register_agency(AGENCY, "police", "Northshire Police (fictional)", self.key.public_key(),
                                        serves=["309", "310"], by="cli")
        services.runner.catch_up()
        self.token_file = folder / "token"
        self.token_file.write_text(tokens.issue(services.engine, "agency", agency=AGENCY)[0] + "\n")
        self.vkey = services.signer.vkey
        self.receipts = folder / "receipts.jsonl"

    def records(self, name: str, ids: range, **fields) -> Path:
        path = self.folder / name
        path.write_text("".join(json.dumps(concern(f"P-{i}", **fields)) + "\n" for i in ids))
        return path

    def push(self, port: int, *files: Path, wait: bool = True, stderr=subprocess.PIPE, **options):
        arguments = {"url": f"http://127.0.0.1:{port}", "key": self.key_file, "vkey": self.vkey,
                     "receipts": self.receipts, "token-file": self.token_file, "backoff": "0.2", **options}  # fmt: skip
        command = [sys.executable, "-c", RUN_CLI, "push", *map(str, files)]
        for name, value in arguments.items():
            command += [f"--{name}", str(value)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        process = subprocess.Popen(command, cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=stderr,
                                   text=True)  # fmt: skip
        return process.communicate(timeout=600) + (process.returncode,) if wait else process


def read_terminal(fd: int, shown: bytearray, until=lambda: False, seconds: float = 900) -> None:
    """Add what a command writes to the terminal ``fd`` to ``shown`` until ``until()`` holds or the
    terminal closes (the command ended); fails with what was shown after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, shown.decode("utf-8", "replace")[-2000:]
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal closed: the command has ended
                return
            if not chunk:
                return
            shown.extend(chunk)


def receipts_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_against_the_log(services, receipts: list[dict], count: int) -> None:
    """Each receipt names the leaf that holds its record, and the log holds each record once."""
    with services.engine.connect() as conn:
        size = max(r["leaf_index"] for r in receipts) + 1
        log = [decode_entry(entry) for entry in entries(conn, 0, size)]
        for receipt in receipts:
            index = receipt["leaf_index"]
            assert base64.b64decode(receipt["leaf_hash"]) == leaf_hash(entries(conn, index, index + 1)[0])
            assert (log[index]["agency"], log[index]["record_id"]) == (receipt["agency"], receipt["record_id"])
    records = [entry["record_id"] for entry in log if entry.get("kind") == "record"]
    assert len(records) == len(set(records)) == count


def test_a_push_survives_a_server_restart_half_way_and_every_receipt_verifies(services, settings, tmp_path):
    agency = Agency(services, tmp_path)
    records = agency.records("records.jsonl", range(300))
    port = free_port()
    with serving(settings, tmp_path, port, HANG_AFTER.format(batches=15)) as first:
        push = agency.push(port, records, wait=False, **{"batch-size": 10, "retries": 30})
        deadline = time.monotonic() + 300
        while not agency.receipts.exists() or agency.receipts.read_text().count("\n") < 150:
            assert push.poll() is None and time.monotonic() < deadline, push.communicate()
            time.sleep(0.05)
        first.kill()  # half way, mid-request: the 16th batch is never answered
        first.wait(timeout=30)
    assert agency.receipts.read_text().count("\n") == 150
    with serving(settings, tmp_path, port):
        out, err = push.communicate(timeout=600)
    assert push.returncode == 0, err
    assert out == "" and "retry 1 of 30" in err  # it did meet the dead server, and waited it out
    assert "300 records read: 300 recorded now, 0 skipped" in err and "300 of 300 receipts verified" in err
    receipts = receipts_of(agency.receipts)
    assert sorted(r["record_id"] for r in receipts) == sorted(f"P-{i}" for i in range(300))
    check_against_the_log(services, receipts, 300)
    assert (tmp_path / "receipts.jsonl.checkpoint").read_text().startswith(services.signer.origin)


def test_a_second_run_resumes_after_a_torn_receipt_and_checks_the_log_still_extends(services, settings, tmp_path):
    agency = Agency(services, tmp_path)
    first_file = agency.records("first.jsonl", range(20))
    port = free_port()
    with serving(settings, tmp_path, port):
        out, err, status = agency.push(port, first_file)
        assert (status, out) == (0, ""), err
        assert "20 records read: 20 recorded now, 0 skipped" in err
        lines = agency.receipts.read_text().splitlines(keepends=True)
        agency.receipts.write_text("".join(lines[:-1]) + lines[-1][:25])  # killed while writing the last
        more = agency.records("more.jsonl", range(20, 30))
        out, err, status = agency.push(port, first_file, more)
        assert (status, out) == (0, ""), err
        assert "30 records read: 11 recorded now, 19 skipped" in err and "30 of 30 receipts verified" in err
        check_against_the_log(services, [r for r in map(_maybe_json, agency.receipts.read_text().splitlines()) if r],
                              30)  # fmt: skip

        # A checkpoint the last run kept that the log does not extend (a rewritten log) is reported.
        checkpoint_key = read_private_key(Path(settings.checkpoint_key))
        forged = sign_checkpoint(Checkpoint(services.signer.origin, 3, b"\x07" * 32), services.signer.origin,
                                 checkpoint_key)  # fmt: skip
        (tmp_path / "receipts.jsonl.checkpoint").write_text(forged)
        out, err, status = agency.push(port, first_file, more)
        assert status == 1 and "not consistent with the checkpoint kept" in err


def _maybe_json(line: str) -> dict | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


def test_refused_records_are_problem_lines_and_the_rest_are_recorded(services, settings, tmp_path):
    agency = Agency(services, tmp_path)
    good = agency.records("good.jsonl", range(3))
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps(concern("M-1", category="bruise")) + "\n{broken\n" + json.dumps(concern("M-2")) + "\n")
    port = free_port()
    with serving(settings, tmp_path, port):
        out, err, status = agency.push(port, good, mixed)
    assert status == 1, err
    problems = [json.loads(line) for line in out.splitlines()]
    # The line that is not JSON is refused before sending (as the ledger would refuse its payload).
    assert [(p["status"], p["type"].rsplit("/", 1)[1], p["source"]) for p in problems] == [
        (422, "invalid-payload", f"{mixed}:2"), (422, "invalid-payload", f"{mixed}:1")]  # fmt: skip
    assert problems[1]["record_id"] == "M-1" and "category" in problems[1]["detail"]
    assert sorted(r["record_id"] for r in receipts_of(agency.receipts)) == ["M-2", "P-0", "P-1", "P-2"]
    assert "2 refused" in err and "4 of 4 receipts verified" in err


@pytest.mark.parametrize("wrong", ["vkey", "token"])
def test_a_wrong_vkey_or_token_stops_the_push_before_any_record_is_sent(services, settings, tmp_path, wrong):
    agency = Agency(services, tmp_path)
    records = agency.records("records.jsonl", range(5))
    if wrong == "vkey":
        agency.vkey = vkey(services.signer.origin, Ed25519PrivateKey.generate().public_key())
    else:
        agency.token_file.write_text("sgl_fictional-not-a-token\n")
    before = services.ledger.recorder.max_notification_id()
    port = free_port()
    with serving(settings, tmp_path, port):
        out, err, status = agency.push(port, records)
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert ("no signature by" in err) if wrong == "vkey" else ("401" in err and "sgl_" not in err)
    assert services.ledger.recorder.max_notification_id() == before and not agency.receipts.exists()


def test_push_loads_no_web_framework_and_an_absent_ledger_is_exit_3(tmp_path):
    """An agency's machine needs httpx and the domain, not the server's stack."""
    from tests.e2e.test_cli_startup import DRIVER, fresh_interpreter

    key_file, token_file = tmp_path / "a.key", tmp_path / "token"
    write_private_key(key_file, Ed25519PrivateKey.generate())
    token_file.write_text("sgl_fictional\n")
    (tmp_path / "r.json").write_text(json.dumps(concern()))
    result = fresh_interpreter(
        DRIVER, "push", str(tmp_path / "r.json"), "--url", f"http://127.0.0.1:{free_port()}", "--key", str(key_file),
        "--vkey", vkey("test.example/log", Ed25519PrivateKey.generate().public_key()), "--receipts",
        str(tmp_path / "receipts.jsonl"), "--token-file", str(token_file), "--retries", "1", "--backoff", "0.01",
        cwd=tmp_path,
    )  # fmt: skip
    assert result == {"status": 3, "web": []}


@pytest.mark.slow
def test_ten_thousand_records_on_a_terminal_survive_a_restart_and_every_receipt_verifies(services, settings, tmp_path):
    """The issue's load: 10,000 records pushed from a terminal (so the bars are drawn), the server
    killed after 5,000, started again, and a receipts file whose every line verifies."""
    agency = Agency(services, tmp_path)
    count, batch = 10_000, 200
    records = agency.records("records.jsonl", range(count))
    port = free_port()
    main_fd, terminal_fd = pty.openpty()
    shown = bytearray()

    def receipts_held() -> int:
        return agency.receipts.read_text().count("\n") if agency.receipts.exists() else 0

    with serving(settings, tmp_path, port, HANG_AFTER.format(batches=count // batch // 2)) as first:
        push = agency.push(port, records, wait=False, stderr=terminal_fd, **{"batch-size": batch, "retries": 60})
        read_terminal(main_fd, shown, lambda: receipts_held() >= count // 2 or push.poll() is not None)
        assert push.poll() is None, shown.decode("utf-8", "replace")
        first.kill()  # mid-request: the next batch is never answered
        first.wait(timeout=30)
    assert receipts_held() == count // 2
    with serving(settings, tmp_path, port):
        read_terminal(main_fd, shown, lambda: push.poll() is not None)
        out = push.communicate(timeout=600)[0]
    os.close(terminal_fd)
    read_terminal(main_fd, shown)  # whatever is left on the terminal
    os.close(main_fd)
    text = shown.decode("utf-8", "replace")
    assert push.returncode == 0 and out == "", text[-2000:]
    assert f"{count}/{count}" in text and "retry 1 of 60" in text  # the bar reached the end; the restart was met
    assert f"{count} records read: {count} recorded now, 0 skipped" in text
    assert f"{count} of {count} receipts verified" in text
    receipts = receipts_of(agency.receipts)
    assert sorted(r["record_id"] for r in receipts) == sorted(f"P-{i}" for i in range(count))
    check_against_the_log(services, receipts, count)
