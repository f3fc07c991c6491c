"""``ledger serve`` and ``ledger token ...``: run the HTTP API and manage its bearer tokens.

A new token is printed once, on standard output alone (so ``TOKEN=$(ledger token issue ...)`` works);
what is kept is its hash. The server logs one line per request without query strings, tokens or
bodies; uvicorn's own access log, which would print query strings, is off.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

from api import tokens
from api.bootstrap import Services, bootstrap
from api.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def open_services(args: argparse.Namespace) -> Services:
    """The ledger named by the command's options (imported by api/cli.py, so not taken from it)."""
    return bootstrap(Settings.from_env(database_url=args.database_url, checkpoint_key=args.checkpoint_key))


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API under uvicorn; each worker process builds its app from the environment."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    # Worker processes read their settings from the environment, so the options travel there.
    if args.database_url:
        os.environ["LEDGER_DATABASE_URL"] = args.database_url
    if args.checkpoint_key:
        os.environ["LEDGER_CHECKPOINT_KEY"] = args.checkpoint_key
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["ledger"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    print(f"serving the ledger API on http://{args.host}:{args.port}/v1/ (Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        server_header=False,
        log_config=log_config,
    )
    return 0


def cmd_token_issue(args: argparse.Namespace) -> int:
    expires_at = None if args.expires is None else tokens.parse_expiry(args.expires)
    services = open_services(args)
    try:
        if args.agency is not None:
            services.ledger.agency(args.agency)  # NotFound for an unregistered agency
        secret, info = tokens.issue(
            services.engine,
            args.role,
            agency=args.agency,
            local_authority=args.local_authority,
            expires_at=expires_at,
        )
    finally:
        services.close()
    print(secret)
    scope = f" for {info.agency or info.local_authority}" if info.agency or info.local_authority else ""
    print(f"issued {info.role} token {info.token_id}{scope}; it is shown only this once", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        info = tokens.revoke(services.engine, args.token_id)
    finally:
        services.close()
    print(f"revoked token {info.token_id}")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        listed = tokens.list_tokens(services.engine)
    finally:
        services.close()
    print(f"{'TOKEN-ID':16}  {'ROLE':12}  {'SCOPE':20}  {'EXPIRES':27}  REVOKED")
    for token in (info.as_json() for info in listed):
        scope = token["agency"] or token["local_authority"] or "-"
        print(
            f"{token['token_id']:16}  {token['role']:12}  {scope:20}  {token['expires_at'] or '-':27}  "
            f"{token['revoked_at'] or '-'}"
        )
    return 0


def add_commands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``serve`` and ``token`` on the ``ledger`` command."""
    p = subparsers.add_parser("serve", parents=[common], help="run the HTTP API")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.set_defaults(func=cmd_serve)

    token = subparsers.add_parser("token", help="issue, revoke and list API bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    p = token_sub.add_parser("issue", parents=[common], help="print a new token once, on standard output alone")
    p.add_argument("--role", required=True, choices=tokens.ROLES)
    p.add_argument("--agency", help="the agency an agency token submits for")
    p.add_argument("--local-authority", help="the three-digit council code a practitioner token reads for")
    p.add_argument("--expires", help="RFC 3339 date (valid through that day, UTC) or date-time")
    p.set_defaults(func=cmd_token_issue)
    p = token_sub.add_parser("revoke", parents=[common], help="revoke a token at once")
    p.add_argument("token_id", metavar="TOKEN-ID")
    p.set_defaults(func=cmd_token_revoke)
    p = token_sub.add_parser("list", parents=[common], help="list tokens (never their secrets)")
    p.set_defaults(func=cmd_token_list)
