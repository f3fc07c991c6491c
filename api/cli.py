"""The ``ledger`` command (SPEC sections 5 and 6.6): its parser, and the one place failures end.

Start-up is quick and never loads the web stack: this module imports only the standard library and
domain/errors, and each subcommand names its function as ``"module:function"``, imported only when
that subcommand runs. So ``ledger --help`` and ``ledger token list`` load neither FastAPI, uvicorn
nor Jinja2 (tests/e2e/test_cli_startup.py checks); a command module may import whatever it needs.

Every subcommand that opens the ledger takes ``--database-url`` (default ``LEDGER_DATABASE_URL``,
then ``sqlite:///ledger.db``) and ``--checkpoint-key``. Failures are one line on standard error,
never a traceback, with the exit status of SPEC 6.6: 1 a failed verification or a refused record,
2 bad usage (argparse's own errors, bad settings, a bad database URL, a request the ledger refuses),
3 an operational error (the database cannot be reached, a file or the ledger is missing).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence

from domain.errors import IntegrityFailure, LedgerError, Unavailable

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3
EXIT_INTERRUPTED = 130
COMMON_HELP = "database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)"


def settings_from(args: argparse.Namespace, **overrides: object):
    """Settings from the environment, overridden by the options given on the command line."""
    from api.settings import Settings

    given = {name: getattr(args, name, None) for name in ("database_url", "checkpoint_key")}
    return Settings.from_env(**given, **overrides)


def open_ledger(args: argparse.Namespace, *, read_only: bool = False):
    """The ledger the command's options name, as ``api.bootstrap.Services`` (the caller closes it).

    Read-only commands create nothing: no database file, schema or table, no checkpoint key; a
    missing ledger is ``NoLedger``. Others first check the database answers, so an unreachable one
    fails in seconds with one line rather than after eventsourcing's 30-second pool timeout."""
    from api.bootstrap import bootstrap
    from api.opening import require_reachable

    settings = settings_from(args)
    if not read_only:
        require_reachable(settings.database_url)
    return bootstrap(settings, create=not read_only)


class ImportedChoices(Sequence[str]):
    """Choices defined by another module, imported only when argparse checks a value or prints the
    subcommand's help (give the argument a ``metavar``: argparse would otherwise list them at once)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _values(self) -> Sequence[str]:
        return getattr(importlib.import_module(self.module), self.name)

    def __getitem__(self, index):  # type: ignore[override]
        return self._values()[index]

    def __len__(self) -> int:
        return len(self._values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __contains__(self, value: object) -> bool:
        return value in self._values()


class VersionAction(argparse.Action):
    """``--version``, read from the installed package's metadata only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("safeguarding-ledger")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        print(f"ledger {number}")
        parser.exit()


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return number


def non_negative(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}")
    return int(text)


def add(sub: argparse._SubParsersAction, name: str, func: str, about: str, *parents: argparse.ArgumentParser):
    """A subcommand with one line of help, shown in ``ledger --help`` and atop its own ``--help``."""
    parser = sub.add_parser(name, parents=list(parents), help=about, description=about[0].upper() + about[1:] + ".")
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help=COMMON_HELP)
    common.add_argument("--checkpoint-key", help="checkpoint signing key (default: LEDGER_CHECKPOINT_KEY)")
    parser = argparse.ArgumentParser(prog="ledger", description="The safeguarding ledger.")
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add(sub, "init", "api.cli_admin:cmd_init", "create the tables and the checkpoint key (safe to repeat)", common)
    p = add(sub, "keygen", "api.cli_admin:cmd_keygen", "write an agency Ed25519 key pair")
    p.add_argument("--out", required=True, help="file prefix: writes PREFIX.key and PREFIX.pub")

    agency = sub.add_parser("agency", help="register agencies and manage their areas and keys",
                            description="Register agencies and manage their areas and keys.")  # fmt: skip
    agency_sub = agency.add_subparsers(dest="agency_command", required=True, metavar="COMMAND")
    p = add(agency_sub, "add", "api.cli_admin:cmd_agency_add", "register an agency, its councils and its first key",
            common)  # fmt: skip
    p.add_argument("id")
    p.add_argument("--kind", required=True, metavar="KIND", choices=ImportedChoices("domain.agencies", "AGENCY_KINDS"),
                   help="one of: %(choices)s")  # fmt: skip
    p.add_argument("--name", required=True)
    p.add_argument("--public-key", required=True, help="SubjectPublicKeyInfo PEM file")
    p.add_argument("--serves", required=True, metavar="CODE[,CODE...]", help="the council codes the agency serves")
    p = add(agency_sub, "serves", "api.cli_admin:cmd_agency_serves", "set the councils an agency serves from now on",
            common)  # fmt: skip
    p.add_argument("id")
    p.add_argument("--serves", required=True, metavar="CODE[,CODE...]", help="every council it serves (replaces the list)")
    p = add(agency_sub, "add-key", "api.cli_admin:cmd_agency_add_key",
            "add a signing key, vouched for by a current key of the agency (or by --override)", common)  # fmt: skip
    p.add_argument("id")
    p.add_argument("--public-key", required=True, help="the new key's SubjectPublicKeyInfo PEM file")
    vouch = p.add_mutually_exclusive_group()
    vouch.add_argument("--signed-by", metavar="CURRENT.key", help="a current key of the agency, to sign the key statement")
    vouch.add_argument("--statement", metavar="FILE", help="the agency's signed key statement (ledger agency key-statement)")
    vouch.add_argument("--override", metavar="REASON", help="add it without a statement: flagged, and reported by verify")
    p = add(agency_sub, "key-statement", "api.cli_admin:cmd_agency_key_statement",
            "print an agency's signed statement that a new key is its own (for add-key)")  # fmt: skip
    p.add_argument("id")
    p.add_argument("--public-key", required=True, help="the new key's SubjectPublicKeyInfo PEM file")
    p.add_argument("--key", required=True, metavar="CURRENT.key", help="a current key of the agency (PKCS#8 PEM)")
    p = add(agency_sub, "revoke-key", "api.cli_admin:cmd_agency_revoke_key", "revoke a signing key from now on", common)
    p.add_argument("id")
    p.add_argument("keyid")
    p.add_argument("--reason", default="revoked by administrator")

    p = add(sub, "sign", "api.cli_admin:cmd_sign", "print the DSSE envelope of a record file, signed as it is")
    p.add_argument("--key", required=True, help="PKCS#8 PEM private key")
    p.add_argument("record")
    p = add(sub, "submit", "api.cli_admin:cmd_submit", "append envelope files straight to the database", common)
    p.add_argument("files", nargs="+")

    p = add(sub, "push", "api.cli_push:cmd_push",
            "sign record files with the agency key and post them to a ledger over HTTP, resumably")  # fmt: skip
    p.add_argument("records", nargs="+", metavar="RECORDS", help="record files: a JSON record each, or JSON lines")
    p.add_argument("--url", required=True, help="the ledger's address, e.g. https://ledger.example")
    p.add_argument("--key", required=True, help="the agency's PKCS#8 PEM private key")
    p.add_argument("--vkey", required=True, help="the ledger's verifier key (text or file), obtained independently")
    p.add_argument("--receipts", required=True, metavar="FILE",
                   help="receipts file (JSON lines): appended to; records it holds a receipt for are skipped")
    p.add_argument("--token-file", help="file holding the agency's bearer token (default: LEDGER_TOKEN)")
    p.add_argument("--batch-size", type=positive, default=100, help="records per request (default 100, at most 1000)")
    p.add_argument("--retries", type=non_negative, default=10,
                   help="retries of a request the ledger could not answer (default 10)")
    p.add_argument("--backoff", type=float, default=0.5, metavar="SECONDS",
                   help="first retry delay, doubling up to 30 s (default 0.5)")  # fmt: skip
    p = add(sub, "import", "api.cli_import:cmd_import",
            "turn a CSV export into record JSON lines by a declared column mapping")  # fmt: skip
    p.add_argument("csv", metavar="DATA.csv")
    p.add_argument("--mapping", required=True, metavar="FILE.toml", help="the column mapping (docs/integrators.md)")
    p.add_argument("--out", help="file to write the JSON lines to (default: standard output)")

    p = add(sub, "serve", "api.cli_serve:cmd_serve", "run the HTTP API", common)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=positive, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=positive, default=1, help="worker processes (default 1)")
    p.add_argument("--worker-timeout", type=positive, metavar="SECONDS",
                   help="how long a worker may take to answer a health check before it is replaced "
                        "(default: LEDGER_WORKER_TIMEOUT or 60)")  # fmt: skip

    token = sub.add_parser("token", help="issue, revoke and list API bearer tokens",
                           description="Issue, revoke and list API bearer tokens.")  # fmt: skip
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    p = add(token_sub, "issue", "api.cli_serve:cmd_token_issue", "print a new token once, on standard output alone",
            common)  # fmt: skip
    p.add_argument("--role", required=True, metavar="ROLE", choices=ImportedChoices("api.tokens", "ROLES"),
                   help="one of: %(choices)s")  # fmt: skip
    p.add_argument("--agency", help="the agency an agency token submits for")
    p.add_argument("--local-authority", help="the three-digit council code a practitioner token reads for")
    p.add_argument("--expires", help="RFC 3339 date (valid through that day, UTC) or date-time")
    p.add_argument("--holder", help="the person or system the token is for (required but for agency tokens)")
    p = add(token_sub, "revoke", "api.cli_serve:cmd_token_revoke", "revoke a token at once", common)
    p.add_argument("token_id", metavar="TOKEN-ID")
    add(token_sub, "list", "api.cli_serve:cmd_token_list", "list tokens (never their secrets); creates nothing", common)

    p = add(sub, "export", "api.cli_export:cmd_export", "write the whole log, checkpoints and keys to a new directory",
            common)  # fmt: skip
    p.add_argument("--out", required=True, help="directory to create (must be new or empty)")
    p.add_argument("--child", metavar="ID",
                   help="only this child's evidence bundle: an NHS number, a UPN or a child id the ledger gave")
    p.add_argument("--as-of", metavar="T", help="with --child: the child as known at T (RFC 3339 date-time)")
    for name, about in (("sar", "write a child's subject access export (PDF, JSON, what was withheld)"),
                        ("review", "write a child's anonymised review chronology, and apart its mapping")):
        p = add(sub, name, f"api.cli_outputs:cmd_{name}", about, common)
        p.add_argument("--child", metavar="ID", required=True, help="an NHS number, a UPN or a child id")
        p.add_argument("--out", required=True, help="directory to create (must be new or empty)")
        p.add_argument("--by", help="who produces it, named in its access entry (default: cli)")
    p.add_argument("--mapping", metavar="FILE", help="where the pseudonym mapping goes (default: OUT/mapping.json)")
    p = add(sub, "verify", "api.cli_log:cmd_verify", "verify an export, or the live database, in full", common)
    p.add_argument("dir", nargs="?",
                   help="an export or child bundle directory (or a bundle's JSON file); without it, the database")
    p.add_argument("--vkey", help="the ledger's verifier key, text or file, obtained independently")
    p.add_argument("--checkpoint", action="append", default=[], help="a checkpoint note file you hold (repeatable)")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="worker processes (0: none)")
    p.add_argument("--witness", action="append", default=[], metavar="NAME=VKEY",
                   help="a witness you trust, by its cosigner vkey (repeatable)")  # fmt: skip
    p.add_argument("--witnesses", type=positive, metavar="K",
                   help="require a checkpoint cosigned by K of the --witness keys (default: all of them)")
    p = add(sub, "rebuild", "api.cli_projections:cmd_rebuild",
            "rebuild a read model (or all of them) from the log, while serving", common)  # fmt: skip
    p.add_argument("name", nargs="?", help="the read model to rebuild (default: every one, in order)")
    p.add_argument("--recreate-tables", action="store_true",
                   help="drop and recreate the tables (a changed table layout; stop the servers first)")
    p = add(sub, "status", "api.cli_status:cmd_status",
            "each read model's position and lag, and any stall; reads only, creates nothing", common)  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the status as JSON")

    add_witness_commands(sub, common)

    p = add(sub, "demo", "api.cli_demo:cmd_demo", "a fresh ledger with a fictional case, served with its web view")
    p.add_argument("--dir", help="folder for the demo ledger (default: ./ledger-demo, else a new temporary folder)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--port", type=positive, default=8000, help="port to serve on (default 8000)")
    p.add_argument("--no-serve", action="store_true", help="build the demo and print how to use it, then exit")
    return parser


def add_witness_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """``ledger witness ...``, ``ledger receipt ...`` and ``ledger checkpoint rotate-key``."""
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--url", required=True, help="the ledger's base URL, e.g. https://ledger.example")
    remote.add_argument("--token", help="bearer token (default: LEDGER_TOKEN; prefer it, as arguments are visible)")
    witness = sub.add_parser("witness", help="witness the log, and manage the witnesses it accepts",
                             description="Witness the log, and manage the witnesses it accepts.")  # fmt: skip
    witness_sub = witness.add_subparsers(dest="witness_command", required=True, metavar="COMMAND")
    p = add(witness_sub, "run", "api.cli_witness:cmd_witness_run",
            "check and cosign the ledger's checkpoints, refusing an inconsistent log", remote)  # fmt: skip
    p.add_argument("--state", required=True, help="the witness's state file (created, mode 0600)")
    p.add_argument("--key", required=True, help="the witness's private key (ledger witness keygen)")
    p.add_argument("--name", required=True, help="the witness's name, as in its vkey")
    p.add_argument("--vkey", help="the log's verifier key (default: pinned at first use from GET /v1/log/key)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="one round, then exit")
    when.add_argument("--interval", type=float, default=60.0, metavar="S", help="seconds between rounds (default 60)")
    p = add(witness_sub, "keygen", "api.cli_witness:cmd_witness_keygen", "write a witness key and print its vkey")
    p.add_argument("--name", required=True, help="the witness's name, e.g. witness.example/w1")
    p.add_argument("--out", required=True, help="private key file to create (its vkey goes to FILE.vkey)")
    p = add(witness_sub, "add", "api.cli_witness:cmd_witness_add", "accept a witness's cosignatures", common)
    p.add_argument("--vkey", required=True, help="the witness's cosigner vkey, text or file")
    p = add(witness_sub, "remove", "api.cli_witness:cmd_witness_remove", "stop accepting a witness", common)
    p.add_argument("name")
    add(witness_sub, "list", "api.cli_witness:cmd_witness_list", "list the accepted witnesses", common)

    receipt = sub.add_parser("receipt", help="receipt bundles that stand alone",
                             description="Receipt bundles that stand alone.")  # fmt: skip
    receipt_sub = receipt.add_subparsers(dest="receipt_command", required=True, metavar="COMMAND")
    p = add(receipt_sub, "fetch", "api.cli_receipt:cmd_receipt_fetch", "fetch a record's receipt bundle", remote)
    p.add_argument("--leaf-index", type=int, required=True, help="the record's leaf index (from its receipt)")
    p.add_argument("--out", help="file to write (default: standard output)")
    p = add(receipt_sub, "verify", "api.cli_receipt:cmd_receipt_verify", "verify a receipt bundle offline")
    p.add_argument("file")
    p.add_argument("--vkey", help="the ledger's verifier key, text or file (default: the bundle's own)")
    p.add_argument("--url", help="also check the ledger at this URL still holds the entry")
    p.add_argument("--token", help="bearer token for --url (default: LEDGER_TOKEN)")
    p.add_argument("--witness", action="append", default=[], metavar="NAME=VKEY", help="a trusted witness (repeatable)")
    p.add_argument("--witnesses", type=positive, metavar="K", help="cosignatures required (default: all named)")

    checkpoint = sub.add_parser("checkpoint", help="the checkpoint signing key",
                                description="The checkpoint signing key.")  # fmt: skip
    checkpoint_sub = checkpoint.add_subparsers(dest="checkpoint_command", required=True, metavar="COMMAND")
    p = add(checkpoint_sub, "rotate-key", "api.cli_checkpoint:cmd_checkpoint_rotate_key",
            "hand the checkpoint key over to a new one, recorded in the log", common)  # fmt: skip
    p.add_argument("--new-key", required=True, help="the new key file (created, mode 0600, if absent)")


def failure(error: Exception) -> tuple[int, str]:
    """The exit status and the one line to print for an error that ended a command."""
    from api.opening import NoLedger

    if isinstance(error, IntegrityFailure):
        return EXIT_REFUSED, str(error)
    if isinstance(error, (Unavailable, NoLedger)):
        return EXIT_OPERATIONAL, str(error)
    if isinstance(error, LedgerError):  # its message is written to be shown (domain/errors.py)
        return EXIT_USAGE, str(error)
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return EXIT_OPERATIONAL, f"{error.strerror or type(error).__name__}{where}"
    # Anything else may quote what it was handling (a record, a row): only its type is shown.
    kind = type(error).__name__
    if _is_database_error(error):
        return EXIT_OPERATIONAL, f"the database failed ({kind}); is it running, and is the ledger initialised?"
    return EXIT_OPERATIONAL, f"unexpected error ({kind}); nothing more is shown, as it may quote records"


def _is_database_error(error: Exception) -> bool:
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(error, (sqlite3.Error, psycopg.Error, PersistenceError, SQLAlchemyError))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, name = args.func.split(":")
    try:
        return getattr(importlib.import_module(module), name)(args)
    except KeyboardInterrupt:
        print("ledger: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        status, message = failure(error)
        print(f"ledger: {message}", file=sys.stderr)
        return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
