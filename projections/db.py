"""The read models' database: SQLAlchemy Core in the same database as the event store.

One URL (projections/database_url) gives both. On SQLite every write transaction begins IMMEDIATE,
so two processes catching up serialise on the database lock instead of failing to upgrade a read
lock; read-only work goes through ``readers(engine)``, whose transactions begin DEFERRED and so
never queue behind a writer (WAL lets readers and one writer run together). On PostgreSQL the engine
connects straight away, so a server that cannot be reached is named at startup (Unavailable), in
seconds, instead of surfacing later as a driver error.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, exc, text

from projections.database_url import (
    CONNECT_TIMEOUT,
    is_postgres,
    libpq_reason,
    postgres_schema,
    postgres_target,
    sqlite_path,
    unreachable,
)
from projections.eventstore import DDL_LOCK_KEY

metadata = MetaData()
_READ_ONLY = "ledger_read_only"


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy spelling of a ledger database URL (psycopg 3 driver, no ``schema`` parameter)."""
    if is_postgres(url):
        postgres_target(url)  # refuses a URL the ledger would misread
        parts = urlsplit(url)
        return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, "", ""))
    return f"sqlite:///{sqlite_path(url)}"


def make_engine(url: str) -> Engine:
    """An engine for the read models of the ledger at ``url``; creates the PostgreSQL schema if needed.

    Raises DatabaseUrlError for a bad URL, and Unavailable when PostgreSQL cannot be reached within
    CONNECT_TIMEOUT seconds.
    """
    if is_postgres(url):
        schema = postgres_schema(url)  # a plain identifier: database_url refuses any other
        engine = create_engine(
            sqlalchemy_url(url),
            connect_args={"options": f"-c search_path={schema}", "connect_timeout": CONNECT_TIMEOUT},
            pool_size=4,
            max_overflow=4,
            pool_pre_ping=True,
        )
        with _first_connection(engine, url) as conn, conn.begin():
            if schema != "public":
                hold_ddl_lock(conn)
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        return engine
    engine = create_engine(sqlalchemy_url(url), connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN itself
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def _first_connection(engine: Engine, url: str) -> Connection:
    """A connection, or Unavailable naming the server when it cannot be reached (the driver's
    reason kept as the cause and, in short, in the message)."""
    try:
        return engine.connect()
    except (exc.OperationalError, exc.InterfaceError) as error:
        engine.dispose()
        raise unreachable(url, libpq_reason(error.orig or error)) from error


def readers(engine: Engine) -> Engine:
    """The same engine and pool, for read-only work: on SQLite its transactions take no write lock.

    Use it only for reads: a write through it could fail to upgrade its lock under contention.
    """
    return engine.execution_options(**{_READ_ONLY: True})


def hold_ddl_lock(conn: Connection) -> None:
    """On PostgreSQL, wait for and hold (until this transaction ends) the lock that serialises table
    creation between processes starting together; SQLite's BEGIN IMMEDIATE already serialises it."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK_KEY})


def create_tables(engine: Engine, tables: list[Table]) -> None:
    """Create the tables that do not exist yet, safely when several processes start at once."""
    with engine.begin() as conn:
        hold_ddl_lock(conn)
        metadata.create_all(conn, tables=tables)
