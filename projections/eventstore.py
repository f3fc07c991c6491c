"""The event store: eventsourcing's own recorders, on the database a URL names (database_url.py).

``sqlite:///path`` selects eventsourcing's SQLite recorder, ``postgresql://user@host:port/db`` its
PostgreSQL recorder. Both are subclassed for two things only: a batch is appended only if the
agencies it was judged against are unchanged (so keys are decided by the log at the append; the
domain's StaleAggregates says they were not), and on PostgreSQL a batch is sent as arrays (fast).
Tables, locking and notification order are theirs; tests/integration/test_eventstore_contract.py runs
eventsourcing's own recorder tests against these subclasses.

This is the only module that knows how a Ledger is wired to a database: ``open_ledger(url)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory
from eventsourcing.utils import Environment, EnvType
import psycopg
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.ledger import Ledger, StaleAggregates
from projections.database_url import (
    CONNECT_TIMEOUT,
    is_postgres,
    libpq_reason,
    postgres_target,
    sqlite_path,
    unreachable,
)

#: PostgreSQL advisory lock key held while creating tables, so processes starting together (``ledger
#: serve --workers N``) never run DDL at once: concurrent CREATE OR REPLACE FUNCTION fails with
#: "tuple concurrently updated", and concurrent CREATE ... IF NOT EXISTS with a duplicate key.
DDL_LOCK_KEY = 0x5AFE_1ED6

# The pool's background workers log each failed connection attempt; without this, Python's last-resort
# handler would print them on standard error, beside the one line the caller gets (an application
# that configures logging still sees them).
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())


def open_ledger(url: str) -> Ledger:
    """The ledger on the database a URL names, its tables created if absent.

    Raises DatabaseUrlError for a URL that names no usable database, and Unavailable (naming host
    and port, never the password) when the database cannot be reached within CONNECT_TIMEOUT.
    """
    env = eventsourcing_env(url)
    if is_postgres(url):
        _reach_postgres(url)
    try:
        return Ledger(env=env)
    except (OperationalError, InterfaceError) as exc:  # on PostgreSQL, only if lost since _reach_postgres
        raise unreachable(url, None if is_postgres(url) else str(exc)) from exc


def _reach_postgres(url: str) -> None:
    """Connect once, within CONNECT_TIMEOUT, before the ledger makes its pool: a server that cannot
    be reached is then named with libpq's reason, and no pool is left retrying in the background."""
    target = postgres_target(url)
    try:
        psycopg.connect(
            host=target.host,
            port=target.port,
            dbname=target.dbname,
            user=target.user,
            password=target.password,
            connect_timeout=CONNECT_TIMEOUT,
        ).close()
    except psycopg.OperationalError as exc:
        raise unreachable(url, libpq_reason(exc)) from exc


def refuse_stale(found: Mapping[UUID, int], expected: Mapping[UUID, int]) -> None:
    """Raise StaleAggregates unless each aggregate is still at the version the batch was judged at."""
    changed = [str(aggregate_id) for aggregate_id, version in expected.items() if found.get(aggregate_id) != version]
    if changed:
        raise StaleAggregates(", ".join(changed))


class CheckedSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder, which appends a batch only if the aggregates it was judged
    against are unchanged (``expected_versions``: aggregate id -> version), in the same transaction.

    So a key revoked by another process between judging and appending is honoured: the log decides.
    """

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        expected_versions: Mapping[UUID, int] | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        if expected_versions:
            # After its first INSERT this transaction holds SQLite's write lock: what it reads now is
            # the latest state, and stays so until it commits (or rolls back on the raise).
            ids = list(expected_versions)
            c.execute(
                f"SELECT originator_id, MAX(originator_version) FROM {self.events_table_name} "
                f"WHERE originator_id IN ({', '.join('?' * len(ids))}) GROUP BY originator_id",
                [aggregate_id.hex for aggregate_id in ids],
            )
            refuse_stale({UUID(row[0]): row[1] for row in c.fetchall()}, expected_versions)
        return notification_ids


class BatchPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, inserting a batch as four arrays sent in binary, and
    appending it only if the aggregates it was judged against are unchanged (as CheckedSQLiteRecorder).

    The stock recorder sends one array of composite values, which psycopg escapes value by value
    in Python: for a batch of 1000 records that took longer than the insert itself. The table,
    the EXCLUSIVE lock that keeps commit order equal to notification order, the NOTIFY and the
    returned notification ids are all unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.select_versions_statement = SQL(
            "SELECT originator_id, MAX(originator_version) AS version FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        self.insert_arrays_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )

    def create_table(self) -> None:
        """eventsourcing's table creation, retried when another process created the same types at
        the same moment (CREATE TYPE has no IF NOT EXISTS and runs outside the lock below)."""
        for attempt in range(5):
            try:
                return super().create_table()
            except (InternalError, IntegrityError, ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
        super()._create_table(curs)

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        *,
        expected_versions: Mapping[UUID, int] | None = None,
        **kwargs: Any,
    ) -> None:
        """Runs first in the appending transaction; an exception here rolls it back."""
        super()._insert_events(curs, stored_events, **kwargs)
        if expected_versions:
            # The table lock (taken again, harmlessly, before the insert) waits for every other
            # appender to commit and keeps new ones out, so the versions read now stay current.
            self._lock_table(curs)
            curs.execute(self.select_versions_statement, (list(expected_versions),))
            refuse_stale({row["originator_id"]: row["version"] for row in curs.fetchall()}, expected_versions)

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
    """The eventsourcing environment for a database URL (raises DatabaseUrlError for a bad URL)."""
    if is_postgres(url):
        target = postgres_target(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": target.dbname,
            "POSTGRES_HOST": target.host,
            "POSTGRES_PORT": str(target.port),
            "POSTGRES_USER": target.user,
            "POSTGRES_PASSWORD": target.password,
            "POSTGRES_SCHEMA": target.schema,
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            # How long to wait for a connection from the pool, so also for a server that does not
            # answer: fail in seconds, naming it, rather than hang.
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:{BatchPostgresRecorder.__qualname__}",
            "CREATE_TABLE": "y",
        }
    return {
        "PERSISTENCE_MODULE": f"{__name__}:{PatientSQLiteFactory.__qualname__}",
        "APPLICATION_RECORDER_TOPIC": f"{__name__}:{CheckedSQLiteRecorder.__qualname__}",
        "SQLITE_DBNAME": sqlite_path(url),
        "SQLITE_LOCK_TIMEOUT": "30",
        "CREATE_TABLE": "y",
    }
