"""``ledger status``: how far each read model has followed the log, and where any one is stopped.

For an operator or a monitoring check, so it only reads: it opens SQLite read-only (and first checks
that the file exists, so a mistyped path never creates an empty ledger), PostgreSQL in read-only
transactions with table creation off, writes no checkpoint key, catches nothing up. Exit status 0
when no read model is stalled, 1 when one is (the entry's log position and the error's type are
printed, never record content), 3 when the database cannot be read at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

from eventsourcing.persistence import PersistenceError
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from api.bootstrap import read_models
from api.opening import require_ledger
from api.settings import Settings
from domain.ledger import Ledger
from projections.database_url import is_postgres, postgres_schema, sqlite_path
from projections.eventstore import eventsourcing_env
from projections.runner import ProjectionRunner
from projections.stalls import ReadModelStatus

EXIT_HEALTHY, EXIT_STALLED, EXIT_UNREACHABLE = 0, 1, 3



class Unreachable(Exception):
    """The ledger's database cannot be read; the message is safe to print (no password, no content)."""


def read_only_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite opened ``mode=ro``, PostgreSQL read-only transactions."""
    if is_postgres(url):
        parts = urlsplit(url)
        options = f"-c search_path={postgres_schema(url)} -c default_transaction_read_only=on"
        return create_engine(f"postgresql+psycopg://{parts.netloc}{parts.path}", poolclass=NullPool,
                             connect_args={"options": options, "connect_timeout": 10})  # fmt: skip
    path = Path(sqlite_path(url)).resolve()
    return create_engine(f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true", poolclass=NullPool)


def read_status(url: str) -> list[ReadModelStatus]:
    """Every read model's status from the ledger at ``url``, reading only; raises Unreachable."""
    where = _where(url)
    require_ledger(url)  # NoLedger, and nothing created, when there is none
    engine = read_only_engine(url)
    ledger = None
    try:
        ledger = Ledger(env={**eventsourcing_env(url), "CREATE_TABLE": "no", "POSTGRES_CONNECT_TIMEOUT": "10"})
        return ProjectionRunner(ledger, engine, read_models()).status()
    except (SQLAlchemyError, PersistenceError, OSError) as error:
        # The type only: a driver's message can quote a query, and this goes to monitoring logs.
        raise Unreachable(f"cannot read the ledger at {where} ({type(error).__name__})") from None
    finally:
        if ledger is not None:
            ledger.close()
        engine.dispose()


def describe(found: list[ReadModelStatus]) -> list[str]:
    """The lines ``ledger status`` prints: one per read model, then the log's head."""
    lines = [f"{'read model':<12} {'position':>10} {'lag':>10}  state"]
    for status in found:
        state = "following"
        if status.stall is not None:
            state = (f"STALLED at log position {status.stall.position} ({status.stall.error}) since "
                     f"{status.stall.since.strftime('%Y-%m-%dT%H:%M:%SZ')}")  # fmt: skip
        lines.append(f"{status.name:<12} {status.position:>10} {status.lag:>10}  {state}")
    head = found[0].head if found else 0
    lines.append(f"log head: notification {head}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    url = Settings.from_env(database_url=args.database_url).database_url
    try:
        found = read_status(url)
    except Unreachable as error:
        print(f"ledger: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps([status.as_dict() for status in found]))
    else:
        print("\n".join(describe(found)))
    return EXIT_STALLED if any(status.stall is not None for status in found) else EXIT_HEALTHY


def _where(url: str) -> str:
    """The database a URL names, for messages: never its password."""
    if not is_postgres(url):
        return sqlite_path(url)
    parts = urlsplit(url)
    return f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path} (schema {postgres_schema(url)})"
