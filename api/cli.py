"""The ``ledger`` command (SPEC section 5): a thin layer over the composition root.

Every subcommand takes ``--database-url`` (default ``LEDGER_DATABASE_URL``, then
``sqlite:///ledger.db``). Refusals print one line on standard error and exit non-zero; no stack
trace, no key material, no record content.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import cli_demo, cli_log, cli_projections, cli_serve
from api.bootstrap import Services, bootstrap
from api.keyfiles import ensure_checkpoint_key, read_private_key, write_private_key, write_public_key
from api.settings import Settings
from domain import envelope as dsse
from domain.agencies import AGENCY_KINDS
from domain.errors import LedgerError

EXIT_REFUSED = 1
EXIT_ERROR = 2


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the options given on the command line."""
    return Settings.from_env(
        database_url=getattr(args, "database_url", None), checkpoint_key=getattr(args, "checkpoint_key", None)
    )


def open_services(args: argparse.Namespace) -> Services:
    return bootstrap(settings_from(args))


def cmd_init(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    ensure_checkpoint_key(Path(settings.checkpoint_key))
    bootstrap(settings).close()
    print(f"ledger ready at {_safe_url(settings.database_url)}; checkpoint key {settings.checkpoint_key}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    key = Ed25519PrivateKey.generate()
    prefix = Path(args.out)
    write_private_key(prefix.with_name(prefix.name + ".key"), key)
    write_public_key(prefix.with_name(prefix.name + ".pub"), key)
    print(f"wrote {prefix}.key (private, mode 0600) and {prefix}.pub; key id {dsse.key_id(key.public_key())}")
    return 0


def cmd_agency_add(args: argparse.Namespace) -> int:
    public_key = dsse.load_public_key_pem(Path(args.public_key).read_bytes())
    services = open_services(args)
    try:
        keyid = services.ledger.register_agency(args.id, args.kind, args.name, public_key)
        services.runner.catch_up()
    finally:
        services.close()
    print(f"registered agency {args.id} with key {keyid}")
    return 0


def cmd_agency_add_key(args: argparse.Namespace) -> int:
    public_key = dsse.load_public_key_pem(Path(args.public_key).read_bytes())
    services = open_services(args)
    try:
        keyid = services.ledger.add_key(args.id, public_key)
        services.runner.catch_up()
    finally:
        services.close()
    print(f"added key {keyid} to agency {args.id}")
    return 0


def cmd_agency_revoke_key(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        services.ledger.revoke_key(args.id, args.keyid, args.reason)
        services.runner.catch_up()
    finally:
        services.close()
    print(f"revoked key {args.keyid} of agency {args.id}")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    key = read_private_key(Path(args.key))
    print(json.dumps(dsse.sign(Path(args.record).read_bytes(), key)))
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
    envelopes = list(read_envelopes(args.files))
    services = open_services(args)
    refused = 0
    try:
        for start in range(0, len(envelopes), 1000):
            for result in services.submit(envelopes[start : start + 1000]):
                if isinstance(result, LedgerError):
                    refused += 1
                    result = {"error": result.slug, "detail": str(result)}
                print(json.dumps(result))
    finally:
        services.close()
    return EXIT_REFUSED if refused else 0


def _safe_url(url: str) -> str:
    """A database URL with any password hidden, for messages."""
    if "@" in url and ":" in url.split("@")[0].split("//")[-1]:
        scheme, rest = url.split("//", 1)
        user = rest.split(":", 1)[0]
        return f"{scheme}//{user}:***@{rest.split('@', 1)[1]}"
    return url


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help="database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")
    common.add_argument("--checkpoint-key", help="checkpoint signing key (default: LEDGER_CHECKPOINT_KEY)")
    parser = argparse.ArgumentParser(prog="ledger", description="The safeguarding ledger.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", parents=[common], help="create tables and the checkpoint key").set_defaults(func=cmd_init)
    p = sub.add_parser("keygen", help="write an agency Ed25519 key pair")
    p.add_argument("--out", required=True, help="file prefix: writes PREFIX.key and PREFIX.pub")
    p.set_defaults(func=cmd_keygen)

    agency = sub.add_parser("agency", help="register agencies and manage their keys")
    agency_sub = agency.add_subparsers(dest="agency_command", required=True)
    p = agency_sub.add_parser("add", parents=[common], help="register an agency and its first key")
    p.add_argument("id")
    p.add_argument("--kind", required=True, choices=AGENCY_KINDS)
    p.add_argument("--name", required=True)
    p.add_argument("--public-key", required=True, help="SubjectPublicKeyInfo PEM file")
    p.set_defaults(func=cmd_agency_add)
    p = agency_sub.add_parser("add-key", parents=[common], help="add a signing key (rotation)")
    p.add_argument("id")
    p.add_argument("--public-key", required=True)
    p.set_defaults(func=cmd_agency_add_key)
    p = agency_sub.add_parser("revoke-key", parents=[common], help="revoke a signing key from now on")
    p.add_argument("id")
    p.add_argument("keyid")
    p.add_argument("--reason", default="revoked by administrator")
    p.set_defaults(func=cmd_agency_revoke_key)

    p = sub.add_parser("sign", help="print the DSSE envelope of a record file, signed as it is")
    p.add_argument("--key", required=True, help="PKCS#8 PEM private key")
    p.add_argument("record")
    p.set_defaults(func=cmd_sign)
    p = sub.add_parser("submit", parents=[common], help="append envelope files straight to the database")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_submit)

    cli_serve.add_commands(sub, common)
    cli_log.add_commands(sub, common)
    cli_projections.add_commands(sub, common)
    cli_demo.add_commands(sub, common)
    from api import cli_status  # here, not at the top: `import api.cli` loads no more than it needs

    cli_status.add_commands(sub, common)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LedgerError as exc:
        print(f"ledger: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"ledger: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
