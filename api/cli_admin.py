"""``ledger init``, ``keygen``, ``agency ...``, ``sign`` and ``submit``: setting a ledger up and
loading signed records into it from files (SPEC sections 5 and 6.4). The parser is api/cli.py's.

Agency commands act as the ``cli`` administrator, and their log entries say so. A key joins an
existing agency only with the agency's key statement: ``--signed-by OLD.key`` signs one here with a
current key, ``--statement FILE`` takes one the agency signed elsewhere (``ledger agency
key-statement`` makes it); without either, ``--override REASON`` adds it, flagged in the log."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.cli import EXIT_REFUSED, open_ledger, settings_from
from api.keyfiles import read_private_key, write_private_key, write_public_key
from api.opening import display_url
from api.usecases.admin import COMMAND_LINE
from domain import envelope as dsse
from domain.errors import LedgerError
from domain.keystatements import sign_statement

#: Envelopes handed to the ledger at a time: one transaction and one read-model catch-up each.
SUBMIT_CHUNK = 1000


def cmd_init(args: argparse.Namespace) -> int:
    """Create what is missing (tables, then the checkpoint key); what exists is left as it is."""
    settings = settings_from(args)
    open_ledger(args).close()
    print(f"ledger ready at {display_url(settings.database_url)}; checkpoint key {settings.checkpoint_key}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    key = Ed25519PrivateKey.generate()
    prefix = Path(args.out)
    write_private_key(prefix.with_name(prefix.name + ".key"), key)
    write_public_key(prefix.with_name(prefix.name + ".pub"), key)
    print(f"wrote {prefix}.key (private, mode 0600) and {prefix}.pub; key id {dsse.key_id(key.public_key())}")
    return 0


def council_list(text: str) -> list[str]:
    """``--serves 309,310``: council codes separated by commas (each checked by the ledger)."""
    return [code.strip() for code in text.split(",")]


def cmd_agency_add(args: argparse.Namespace) -> int:
    pem = Path(args.public_key).read_bytes()
    services = open_ledger(args)
    try:
        agency = services.admin.register_agency(
            COMMAND_LINE, args.id, args.kind, args.name, pem, council_list(args.serves)
        )
    finally:
        services.close()
    print(f"registered agency {args.id} serving {', '.join(agency['serves'])} with key {agency['keys'][0]['keyid']}")
    return 0


def cmd_agency_serves(args: argparse.Namespace) -> int:
    services = open_ledger(args)
    try:
        agency = services.admin.change_areas(COMMAND_LINE, args.id, council_list(args.serves))
    finally:
        services.close()
    print(f"agency {args.id} now serves {', '.join(agency['serves'])}")
    return 0


def cmd_agency_key_statement(args: argparse.Namespace) -> int:
    """Print the agency's key statement for a new key, signed with a current key (no ledger needed:
    the agency runs this, and hands the envelope to an administrator)."""
    new_key = dsse.load_public_key_pem(Path(args.public_key).read_bytes())
    print(json.dumps(sign_statement(args.id, new_key, read_private_key(Path(args.key)))))
    return 0


def cmd_agency_add_key(args: argparse.Namespace) -> int:
    pem = Path(args.public_key).read_bytes()
    statement: bytes | dict | None = None
    if args.signed_by is not None:
        statement = sign_statement(args.id, dsse.load_public_key_pem(pem), read_private_key(Path(args.signed_by)))
    elif args.statement is not None:
        statement = Path(args.statement).read_bytes()
    services = open_ledger(args)
    try:
        keyid = services.admin.add_key(COMMAND_LINE, args.id, pem, statement=statement, override=args.override)
    finally:
        services.close()
    flagged = " by override (flagged in the log)" if args.override is not None else ""
    print(f"added key {keyid} to agency {args.id}{flagged}")
    return 0


def cmd_agency_revoke_key(args: argparse.Namespace) -> int:
    services = open_ledger(args)
    try:
        services.admin.revoke_key(COMMAND_LINE, args.id, args.keyid, args.reason)
    finally:
        services.close()
    print(f"revoked key {args.keyid} of agency {args.id}")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign the file's bytes as they are; warn (standard error) when they are not a valid record."""
    from api.cli_push import record_problem

    key = read_private_key(Path(args.key))
    data = Path(args.record).read_bytes()
    problem = record_problem(data)
    if problem is not None:
        print(f"ledger: warning: {args.record} is not a valid JSON record ({problem}); signed anyway", file=sys.stderr)
    print(json.dumps(dsse.sign(data, key)))
    return 0


def read_envelopes(paths: Sequence[str]) -> Iterator[bytes]:
    """Each file holds one JSON envelope, or JSON lines of envelopes (one per non-blank line)."""
    for path in paths:
        data = Path(path).read_bytes()
        stripped = data.strip()
        if not stripped:
            continue
        try:
            json.loads(stripped)
        except ValueError:
            yield from (line for line in stripped.splitlines() if line.strip())
        else:
            yield stripped


def cmd_submit(args: argparse.Namespace) -> int:
    """Print a receipt or a problem per envelope, in input order; exit 1 if any was refused.

    A refusal is the same RFC 9457 problem object the HTTP API answers (api/problems.py), so one
    parser reads both; a progress bar is drawn on standard error when it is a terminal."""
    from api.problems import from_ledger_error
    from api.progress import progress

    envelopes = list(read_envelopes(args.files))
    services = open_ledger(args)
    refused = 0
    bar = progress(len(envelopes), "envelopes", "submit")
    try:
        for start in range(0, len(envelopes), SUBMIT_CHUNK):
            chunk = envelopes[start : start + SUBMIT_CHUNK]
            for result in services.submit(chunk):
                if isinstance(result, LedgerError):
                    refused += 1
                    result = from_ledger_error(result)
                print(json.dumps(result))
            bar.update(len(chunk))
    finally:
        bar.close()
        services.close()
    return EXIT_REFUSED if refused else 0
