"""Checks made before a ledger is opened, so a command fails at once with one clear line.

``require_ledger`` is for read-only commands (``bootstrap(settings, create=False)`` calls it): a
ledger must already be there, and finding out creates nothing: connecting to a missing SQLite file
would make it, and opening a PostgreSQL schema the usual way creates the schema and its tables.
``require_reachable`` is for every other command: it connects once with a short timeout, because
eventsourcing's connection pool would otherwise wait 30 seconds before giving up.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from api.tokens import api_tokens
from domain.errors import NotFound, Unavailable
from projections.database_url import is_postgres, postgres_schema, sqlite_path
from projections.db import sqlalchemy_url

#: The table ``bootstrap`` creates last: where it is, a ledger was initialised in full.
INITIALISED_TABLE = api_tokens.name
CONNECT_TIMEOUT_SECONDS = 10


class NoLedger(NotFound):
    """There is no ledger where the settings point; ``ledger init`` (or a server) makes one."""


def display_url(url: str) -> str:
    """A database URL fit for a message: any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _probe(url: str) -> Engine:
    """An engine that opens one connection, with a timeout, and creates nothing on PostgreSQL."""
    if is_postgres(url):
        timeout = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        return create_engine(sqlalchemy_url(url), poolclass=NullPool, connect_args=timeout)
    return create_engine(sqlalchemy_url(url), poolclass=NullPool)


def _unreachable(url: str) -> Unavailable:
    # The driver's own message is not repeated: it can quote the connection details at length.
    return Unavailable(f"cannot connect to the database at {display_url(url)}")


def require_reachable(url: str) -> None:
    """Raise Unavailable unless a PostgreSQL database answers (SQLite files are made on demand)."""
    if not is_postgres(url):
        sqlite_path(url)  # DatabaseUrlError for a URL naming no backend
        return
    engine = _probe(url)
    try:
        with engine.connect():
            pass
    except DBAPIError:
        raise _unreachable(url) from None
    finally:
        engine.dispose()


def require_ledger(url: str) -> None:
    """Raise NoLedger unless an initialised ledger is at ``url`` (Unavailable if its database does
    not answer), without creating any file, schema or table."""
    if not is_postgres(url):
        path = Path(sqlite_path(url))
        if not path.is_file():
            raise NoLedger(f"no ledger at {path}; run ledger init")
        where, schema = str(path), None
    else:
        where, schema = display_url(url), postgres_schema(url)
    engine = _probe(url)
    try:
        with engine.connect() as conn:
            present = inspect(conn).has_table(INITIALISED_TABLE, schema=schema)
    except DBAPIError:
        raise _unreachable(url) from None
    finally:
        engine.dispose()
    if not present:
        raise NoLedger(f"no ledger at {where}; run ledger init")
