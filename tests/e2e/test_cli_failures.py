"""SPEC 6.6 at the command line: never a traceback, one line on standard error, exit status 1 for a
failed verification or refused record, 2 for bad usage, 3 for an operational error; and read-only
commands (``token list``, ``verify``, ``export``) create no file, schema, table or checkpoint key.

Most cases run ``main`` in-process in an empty working directory with no ``LEDGER_*`` variables, so
the defaults (``sqlite:///ledger.db``, ``ledger-checkpoint.key``) point into it; a few run the
installed console script to see what a user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError

from api import cli_serve
from api.cli import EXIT_INTERRUPTED, EXIT_OPERATIONAL, EXIT_REFUSED, EXIT_USAGE, failure, main
from api.opening import NoLedger
from api.settings import SettingsError
from domain.errors import IntegrityFailure, InvalidPayload, NotFound, ReadModelStalled, Unavailable
from tests.conftest import POSTGRES_URL

UNREACHABLE = "postgresql://clerk:s3cret@127.0.0.1:1/test"
READ_ONLY = [["token", "list"], ["verify", "--processes", "0"], ["export", "--out", "bundle"], ["status"]]


@pytest.fixture
def empty_dir(tmp_path, monkeypatch) -> Path:
    """An empty working directory, with no LEDGER_* variable set."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in [n for n in os.environ if n.startswith("LEDGER_")]:
        monkeypatch.delenv(name)
    return work


def ledger(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str) -> str:
    assert err.startswith("ledger: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def files_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def schema_exists_with_tables(schema: str) -> tuple[bool, int]:
    with psycopg.connect(POSTGRES_URL.split("?")[0]) as conn:
        exists = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)).fetchone()[0]
    return bool(exists), tables


@pytest.mark.parametrize("argv", READ_ONLY, ids=lambda argv: argv[0])
def test_a_read_only_command_with_the_defaults_in_an_empty_folder_creates_nothing(capsys, empty_dir, argv):
    status, out, err = ledger(capsys, *argv)
    assert (status, out) == (EXIT_OPERATIONAL, "")
    assert one_line(err) == "ledger: no ledger at ledger.db; run ledger init\n"
    assert files_under(empty_dir) == []


@pytest.mark.parametrize("argv", READ_ONLY, ids=lambda argv: argv[0])
def test_a_read_only_command_on_a_new_database_creates_nothing(capsys, empty_dir, database_url, argv):
    """SQLite: a path where no file is; PostgreSQL: an empty schema, and one that does not exist."""
    urls = [database_url]
    if database_url.startswith("postgresql"):
        urls.append(f"{POSTGRES_URL.split('?')[0]}?schema=t_{uuid.uuid4().hex[:12]}")
    before = files_under(empty_dir.parent)
    for url in urls:
        status, _, err = ledger(capsys, *argv, "--database-url", url)
        assert status == EXIT_OPERATIONAL and one_line(err).startswith("ledger: no ledger at ")
        assert err.endswith("; run ledger init\n")
        if url.startswith("postgresql"):
            assert schema_exists_with_tables(url.rsplit("=", 1)[1]) == (url == database_url, 0)
    assert files_under(empty_dir.parent) == before


def test_read_only_commands_on_a_ledger_leave_a_missing_checkpoint_key_missing(capsys, empty_dir, database_url):
    initialised = ["--database-url", database_url, "--checkpoint-key", "ledger.key"]
    assert ledger(capsys, "init", *initialised)[0] == 0
    keyless = ["--database-url", database_url, "--checkpoint-key", "elsewhere.key"]
    before = files_under(empty_dir)
    status, out, _ = ledger(capsys, "token", "list", *keyless)
    assert status == 0 and out.startswith("TOKEN-ID")
    status, _, err = ledger(capsys, "verify", "--processes", "0", *keyless)
    assert status == EXIT_OPERATIONAL and "no checkpoint key at elsewhere.key" in one_line(err)
    status, _, err = ledger(capsys, "export", "--out", "bundle", *keyless)
    assert status == EXIT_OPERATIONAL and "no checkpoint key at elsewhere.key" in one_line(err)
    assert files_under(empty_dir) == before  # no key, and no half-made bundle directory
    assert ledger(capsys, "verify", "--processes", "0", *initialised)[0] == 0


@pytest.mark.parametrize("url", ["mysql://clerk:s3cret@db.example/ledger", "ledger.db", "sqlite:///"])
@pytest.mark.parametrize("argv", [["init"], ["token", "issue", "--role", "admin", "--holder", "Jo Admin"], *READ_ONLY, ["rebuild"]],
                         ids=lambda argv: "-".join(argv[:2]))  # fmt: skip
def test_a_bad_database_url_is_bad_usage(capsys, empty_dir, url, argv):
    status, out, err = ledger(capsys, *argv, "--database-url", url)
    assert (status, out) == (EXIT_USAGE, "") and "s3cret" not in one_line(err)
    assert files_under(empty_dir) == []


@pytest.mark.parametrize("argv", [["init"], ["token", "issue", "--role", "admin", "--holder", "Jo Admin"], ["token", "revoke", "0" * 16],
                                  *READ_ONLY, ["rebuild"], ["serve"]], ids=lambda argv: "-".join(argv[:2]))  # fmt: skip
def test_an_unreachable_postgresql_is_an_operational_error(capsys, empty_dir, argv):
    status, out, err = ledger(capsys, *argv, "--database-url", UNREACHABLE)
    assert (status, out) == (EXIT_OPERATIONAL, "")
    assert one_line(err) == "ledger: cannot connect to the database at postgresql://clerk:***@127.0.0.1:1/test\n"
    assert files_under(empty_dir) == []


def test_missing_files_are_operational_errors(capsys, empty_dir, database_url):
    options = ["--database-url", database_url, "--checkpoint-key", "ledger.key"]
    assert ledger(capsys, "init", *options)[0] == 0
    assert ledger(capsys, "keygen", "--out", "police")[0] == 0
    for argv in (
        ["submit", "absent.json", *options],
        ["agency", "add", "fictional-police", "--kind", "police", "--name", "N", "--public-key", "absent.pub",
         "--serves", "309", *options],
        ["sign", "--key", "absent.key", "police.pub"],
        ["verify", "absent-bundle"],
        ["verify", "--checkpoint", "absent.note", "--processes", "0", *options],
    ):
        status, out, err = ledger(capsys, *argv)
        assert (status, out) == (EXIT_OPERATIONAL, ""), argv
        assert "No such file or directory" in one_line(err) and "absent" in err


@pytest.mark.parametrize(
    ("env", "value", "line"),
    [
        ("LEDGER_CHECKPOINT_EVERY", "abc", "ledger: LEDGER_CHECKPOINT_EVERY must be a positive integer, not 'abc'\n"),
        ("LEDGER_MAX_BATCH_ENVELOPES", "0", "ledger: LEDGER_MAX_BATCH_ENVELOPES must be a positive integer, not '0'\n"),
        ("LEDGER_ORIGIN", "a\nb", "ledger: LEDGER_ORIGIN must be non-empty text without spaces, control characters "
                                  "or '+', not 'a\\nb'\n"),  # fmt: skip
    ],
)
@pytest.mark.parametrize("argv", [["init"], ["token", "list"], ["serve"]], ids=lambda argv: argv[-1])
def test_bad_settings_are_one_line_and_bad_usage(capsys, empty_dir, monkeypatch, env, value, line, argv):
    monkeypatch.setenv(env, value)
    status, out, err = ledger(capsys, *argv)
    assert (status, out, err) == (EXIT_USAGE, "", line)
    assert files_under(empty_dir) == []


def test_bad_options_are_argparse_usage_errors(capsys, empty_dir):
    for argv in (["serve", "--workers", "0"], ["serve", "--worker-timeout", "soon"], ["token", "issue", "--role", "x"]):
        with pytest.raises(SystemExit) as leaving:
            main(argv)
        assert leaving.value.code == EXIT_USAGE and "Traceback" not in capsys.readouterr().err


def test_an_unexpected_error_shows_its_type_and_never_its_message(capsys, empty_dir, monkeypatch):
    """A library error can quote what it was handling; the CLI prints only the error's type."""
    child = "Fictional child Jane Doe, NHS 9434765919"

    def raising(error: BaseException):
        def command(_args):
            raise error

        return command

    for error, expected in (
        (ValueError(child), "ledger: unexpected error (ValueError)"),
        (IntegrityError(f"INSERT ... {child}", {}, Exception(child)), "ledger: the database failed (IntegrityError)"),
    ):
        monkeypatch.setattr(cli_serve, "cmd_token_list", raising(error))
        status, out, err = ledger(capsys, "token", "list")
        assert (status, out) == (EXIT_OPERATIONAL, "") and one_line(err).startswith(expected)
        assert "9434765919" not in err and "Jane" not in err
    monkeypatch.setattr(cli_serve, "cmd_token_list", raising(KeyboardInterrupt()))
    assert ledger(capsys, "token", "list") == (EXIT_INTERRUPTED, "", "ledger: interrupted\n")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (IntegrityFailure(5, "the leaf hash differs"), EXIT_REFUSED),
        (InvalidPayload("expiry must be an RFC 3339 date"), EXIT_USAGE),
        (NotFound("no read model 'x'"), EXIT_USAGE),
        (SettingsError("LEDGER_ORIGIN must be ..."), EXIT_USAGE),
        (Unavailable("cannot connect to the database at sqlite:///x"), EXIT_OPERATIONAL),
        (ReadModelStalled("chronology", 7, "KeyError"), EXIT_OPERATIONAL),
        (NoLedger("no ledger at ledger.db; run ledger init"), EXIT_OPERATIONAL),
        (FileNotFoundError(2, "No such file or directory", "absent.json"), EXIT_OPERATIONAL),
        (PermissionError(13, "Permission denied", "ledger.key"), EXIT_OPERATIONAL),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_each_kind_of_failure_has_its_exit_status_and_a_one_line_message(error, status):
    got, message = failure(error)
    assert got == status and message and "\n" not in message


@pytest.mark.slow
def test_the_installed_command_never_prints_a_traceback(tmp_path):
    """What a user sees from the console script itself: exit status and one line, nothing more."""
    command = Path(sys.executable).with_name("ledger")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    cases = [
        (["token", "list", "--database-url", UNREACHABLE], EXIT_OPERATIONAL, "cannot connect to the database"),
        (["verify", "--database-url", f"sqlite:///{tmp_path / 'absent.db'}"], EXIT_OPERATIONAL, "no ledger at"),
        (["submit", "absent.json"], EXIT_OPERATIONAL, "No such file or directory: absent.json"),
        (["init", "--database-url", "mysql://clerk:s3cret@db.example/ledger"], EXIT_USAGE, "the scheme 'mysql' is not supported"),
        (["token", "list"], EXIT_USAGE, "LEDGER_CHECKPOINT_EVERY must be a positive integer, not 'abc'"),
        (["serve", "--workers", "2"], EXIT_USAGE, "LEDGER_CHECKPOINT_EVERY must be a positive integer, not 'abc'"),
    ]
    for argv, status, says in cases:
        bad_settings = {"LEDGER_CHECKPOINT_EVERY": "abc"} if says.startswith("LEDGER_") else {}
        done = subprocess.run([str(command), *argv], cwd=tmp_path, env={**env, **bad_settings}, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert (done.returncode, done.stdout) == (status, ""), (argv, done.stderr)
        assert says in one_line(done.stderr) and "s3cret" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
