"""The read models' database: SQLAlchemy Core in the same database as the event store.

One URL (domain/storage) gives both. On SQLite every write transaction begins IMMEDIATE, so two
processes catching up serialise on the database lock instead of failing to upgrade a read lock.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, MetaData, create_engine, event, text

from domain.storage import is_postgres, postgres_schema, sqlite_path

metadata = MetaData()


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy spelling of a ledger database URL (psycopg 3 driver, no ``schema`` parameter)."""
    if is_postgres(url):
        parts = urlsplit(url)
        return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, "", ""))
    return f"sqlite:///{sqlite_path(url)}"


def make_engine(url: str) -> Engine:
    """An engine for the read models of the ledger at ``url``; creates the PostgreSQL schema if needed."""
    if is_postgres(url):
        schema = postgres_schema(url)
        engine = create_engine(
            sqlalchemy_url(url),
            connect_args={"options": f"-c search_path={schema}"},
            pool_size=4,
            max_overflow=4,
            pool_pre_ping=True,
        )
        if schema != "public":
            with engine.begin() as conn:
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
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
