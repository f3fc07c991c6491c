"""``ledger init``, ``keygen``, ``agency ...``, ``sign`` and ``submit``: setting a ledger up and
loading signed records into it from files (SPEC section 5). The parser is api/cli.py's."""

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


def cmd_agency_add(args: argparse.Namespace) -> int:
    pem = Path(args.public_key).read_bytes()
    services = open_ledger(args)
    try:
        agency = services.admin.register_agency(COMMAND_LINE, args.id, args.kind, args.name, pem)
    finally:
        services.close()
    print(f"registered agency {args.id} with key {agency['keys'][0]['keyid']}")
    return 0


def cmd_agency_add_key(args: argparse.Namespace) -> int:
    pem = Path(args.public_key).read_bytes()
    services = open_ledger(args)
    try:
        keyid = services.admin.add_key(COMMAND_LINE, args.id, pem)
    finally:
        services.close()
    print(f"added key {keyid} to agency {args.id}")
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
