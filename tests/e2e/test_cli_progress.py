"""Progress bars (api/progress.py): ``submit``, ``export`` and ``push`` draw one on standard error
when it is a terminal, and print nothing extra otherwise; standard output is the same either way."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from api.cli import main
from domain import envelope as dsse
from tests.conftest import concern
from tests.served_process import free_port
from tests.e2e.test_cli_push import RUN_CLI, Agency, read_terminal, serving


def ledger(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_submit_and_export_draw_a_bar_on_a_terminal_only(services, registered, agency_key, tmp_path, capsys,
                                                         monkeypatch, terminal):  # fmt: skip
    envelopes = tmp_path / "envelopes.jsonl"
    envelopes.write_text("".join(json.dumps(dsse.sign(json.dumps(concern(f"b-{i}")).encode(), agency_key)) + "\n"
                                 for i in range(5)))  # fmt: skip
    database = ["--database-url", services.settings.database_url, "--checkpoint-key", services.settings.checkpoint_key]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    status, out, err = ledger(capsys, "submit", envelopes, *database)
    assert status == 0 and [json.loads(line)["record_id"] for line in out.splitlines()] == [f"b-{i}" for i in range(5)]
    assert ("submit" in err and "5/5" in err) if terminal else err == "", repr(err)
    status, out, err = ledger(capsys, "export", "--out", tmp_path / "bundle", *database)
    assert status == 0 and out.startswith("exported 8 entries")  # 7, and the export's own access entry
    assert ("export" in err and "8/8" in err) if terminal else err == ""


def test_push_draws_its_bars_on_a_terminal(services, settings, tmp_path):
    agency = Agency(services, tmp_path)
    records = agency.records("records.jsonl", range(12))
    port = free_port()
    main_fd, terminal_fd = pty.openpty()
    command = [sys.executable, "-c", RUN_CLI, "push", str(records), "--url", f"http://127.0.0.1:{port}",
               "--key", str(agency.key_file), "--vkey", agency.vkey, "--receipts", str(agency.receipts),
               "--token-file", str(agency.token_file), "--batch-size", "5"]  # fmt: skip
    with serving(settings, tmp_path, port):
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=terminal_fd)
        os.close(terminal_fd)
        shown = bytearray()
        read_terminal(main_fd, shown, seconds=300)
        out = process.communicate(timeout=300)[0]
        os.close(main_fd)
    assert process.returncode == 0, shown
    assert out == b""
    text = shown.decode("utf-8", "replace")
    assert "push" in text and "12/12" in text and "verify" in text and "12 of 12 receipts verified" in text
