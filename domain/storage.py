"""One database URL selects the event store (SPEC section 5).

``sqlite:///path`` selects eventsourcing's SQLite recorder, ``postgresql://user@host:port/db`` its
PostgreSQL recorder. A ``schema`` query parameter (``?schema=name``) keeps a ledger in its own
PostgreSQL schema, which is how tests and side-by-side ledgers share one server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.errors import LedgerError

DEFAULT_URL = "sqlite:///ledger.db"


class DatabaseUrlError(LedgerError):
    """The database URL names no backend the ledger supports."""

    slug = "bad-database-url"


def postgres_schema(url: str) -> str:
    """The PostgreSQL schema a URL names (``public`` unless ``?schema=`` says otherwise)."""
    query = parse_qs(urlsplit(url).query)
    return query.get("schema", ["public"])[0]


def is_postgres(url: str) -> bool:
    """Whether the URL selects PostgreSQL."""
    return urlsplit(url).scheme.split("+")[0] in ("postgresql", "postgres")


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///`` URL (``sqlite:////abs`` for an absolute path)."""
    if not url.startswith("sqlite:///"):
        raise DatabaseUrlError(f"unsupported database URL scheme in {url.split(':', 1)[0]!r}")
    path = url[len("sqlite:///"):]
    if not path:
        raise DatabaseUrlError("a sqlite URL needs a file path: sqlite:///ledger.db")
    return path


class BatchPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, inserting a batch as four arrays sent in binary.

    The stock recorder sends one array of composite values, which psycopg escapes value by value
    in Python: for a batch of 1000 records that took longer than the insert itself. The table,
    the EXCLUSIVE lock that keeps commit order equal to notification order, the NOTIFY and the
    returned notification ids are all unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_arrays_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        curs.execute(self.insert_arrays_statement, columns)


class PatientSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite factory, with a connection pool that waits as long as SQLite does.

    The stock pool gives up after 5 s waiting for its one writer connection, while that writer may
    itself be waiting (up to ``SQLITE_LOCK_TIMEOUT``) for a projection's transaction to release the
    database; under concurrent submits the pool then failed requests instead of queueing them.
    """

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        self.datastore.pool.pool_timeout = float(self.env.get(self.SQLITE_LOCK_TIMEOUT) or 30)


def eventsourcing_env(url: str) -> dict[str, str]:
    """The eventsourcing environment variables for a database URL."""
    if is_postgres(url):
        parts = urlsplit(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": postgres_schema(url),
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:{BatchPostgresRecorder.__qualname__}",
            "CREATE_TABLE": "y",
        }
    return {
        "PERSISTENCE_MODULE": f"{__name__}:{PatientSQLiteFactory.__qualname__}",
        "SQLITE_DBNAME": sqlite_path(url),
        "SQLITE_LOCK_TIMEOUT": "30",
        "CREATE_TABLE": "y",
    }
