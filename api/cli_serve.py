"""``ledger serve`` and ``ledger token ...``: run the HTTP API and manage its bearer tokens.

A new token is printed once, on standard output alone (so ``TOKEN=$(ledger token issue ...)`` works);
what is kept is its hash. Issuing and revoking are log entries naming the command line (holder
``cli``) as the administrator, never the token. The server logs one line per request without query strings, tokens or
bodies; uvicorn's own access log, which would print query strings, is off.

The web stack (uvicorn, and FastAPI through the app) is imported inside ``cmd_serve`` alone, so the
token commands start without it. The parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

from api.usecases.admin import COMMAND_LINE
from api.bootstrap import bootstrap
from api.cli import open_ledger, settings_from
from api.opening import require_reachable


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API under uvicorn; each worker process builds its app from the environment.

    What every worker would refuse is refused here first, with one line: bad settings, a bad
    database URL, a database that does not answer. Opening the ledger once here also creates its
    tables before several workers start at once.
    """
    settings = settings_from(args, worker_timeout=args.worker_timeout)
    require_reachable(settings.database_url)
    bootstrap(settings).close()

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
        # uvicorn replaces a worker that does not answer its supervisor's ping within this many
        # seconds; its default, 5, kills healthy workers still starting on a loaded host.
        timeout_worker_healthcheck=settings.worker_timeout,
        access_log=False,
        server_header=False,
        log_config=log_config,
    )
    return 0


def cmd_token_issue(args: argparse.Namespace) -> int:
    services = open_ledger(args)
    try:
        secret, info = services.admin.issue_token(COMMAND_LINE, args.role, agency=args.agency,
                                                  local_authority=args.local_authority, expires=args.expires,
                                                  holder=args.holder)  # fmt: skip
    finally:
        services.close()
    print(secret)
    scope = f" for {info.agency or info.local_authority}" if info.agency or info.local_authority else ""
    print(f"issued {info.role} token {info.token_id}{scope} (logged); it is shown only this once", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    services = open_ledger(args)
    try:
        info = services.admin.revoke_token(COMMAND_LINE, args.token_id)
    finally:
        services.close()
    print(f"revoked token {info.token_id} (logged)")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    """Read-only: creates no file, no table and no checkpoint key."""
    services = open_ledger(args, read_only=True)
    try:
        listed = services.admin.list_tokens(COMMAND_LINE)
    finally:
        services.close()
    print(f"{'TOKEN-ID':16}  {'ROLE':12}  {'SCOPE':20}  {'EXPIRES':27}  {'REVOKED':27}  HOLDER")
    for token in (info.as_json() for info in listed):
        scope = token["agency"] or token["local_authority"] or "-"
        print(
            f"{token['token_id']:16}  {token['role']:12}  {scope:20}  {token['expires_at'] or '-':27}  "
            f"{token['revoked_at'] or '-':27}  {token['holder'] or '-'}"
        )
    return 0
