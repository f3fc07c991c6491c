"""Follows the global log and keeps each read model up to date, exactly once.

Each projection's position is stored in the same transaction as the rows it writes, and the position
row is locked first, so concurrent catch-ups (threads or processes) serialise and a crash at any
point loses or repeats nothing. The same code runs on SQLite (polling) and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql
from sqlalchemy import BigInteger, Column, Connection, Engine, String, Table, insert, select, update

from domain.ledger import Ledger
from projections.db import create_tables, metadata

positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class LogItem:
    """One stored event with its notification id (its place in the global order, which may have gaps)."""

    notification_id: int
    event: Any


class Projection(Protocol):
    """A read model: its tables and how a batch of log items changes them."""

    name: str
    tables: Sequence[Table]

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None: ...


class ProjectionRunner:
    """Catches projections up with the log; one per process, shared by its threads."""

    def __init__(self, ledger: Ledger, engine: Engine, projections: Sequence[Projection], batch_size: int = 1000):
        self.ledger = ledger
        self.engine = engine
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def create_tables(self) -> None:
        """Create the position table and every projection's tables (safe to repeat)."""
        tables = [positions] + [t for p in self.projections.values() for t in p.tables]
        create_tables(self.engine, tables)

    def catch_up(self) -> None:
        """Apply everything appended since each projection's position.

        Each batch of the log is read and decoded once and given to every projection that has not
        yet seen it, all in one transaction: on the ingest path that is one commit, not one per model.
        """
        projections = list(self.projections.values())
        with self._lock:
            while self._step(projections) == self.batch_size:
                pass

    def rebuild(self, name: str) -> None:
        """Drop one projection's tables and position, recreate them and replay the log from zero."""
        projection = self.projections[name]
        with self._lock:
            metadata.drop_all(self.engine, tables=list(projection.tables))
            metadata.create_all(self.engine, tables=list(projection.tables))
            with self.engine.begin() as conn:
                conn.execute(positions.delete().where(positions.c.name == name))
            while self._step([projection]) == self.batch_size:
                pass

    def position(self, name: str) -> int:
        """The last notification id a projection has applied (0 before any)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(positions.c.position).where(positions.c.name == name)).scalar()
        return value or 0

    def _step(self, projections: Sequence[Projection]) -> int:
        """Apply one batch of the log to ``projections`` in one transaction; returns its length."""
        with self.engine.begin() as conn:
            # Lock position rows in one fixed order, so concurrent catch-ups never deadlock.
            seen = {name: self._lock_position(conn, name) for name in sorted(p.name for p in projections)}
            notifications = self.ledger.recorder.select_notifications(
                start=min(seen.values()), limit=self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            to_event = self.ledger.mapper.to_domain_event
            items = [LogItem(n.id, to_event(n)) for n in notifications]
            last = notifications[-1].id
            for projection in projections:  # in registration order: later models may read earlier ones
                unseen = [item for item in items if item.notification_id > seen[projection.name]]
                if not unseen:
                    continue
                projection.apply(conn, unseen)
                conn.execute(update(positions).where(positions.c.name == projection.name).values(position=last))
            return len(notifications)

    @staticmethod
    def _lock_position(conn: Connection, name: str) -> int:
        """Read the projection's position, holding its row lock until the transaction ends."""
        query = select(positions.c.position).where(positions.c.name == name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        value = conn.execute(query).scalar()
        if value is None:
            conn.execute(_insert_if_absent(conn).values(name=name, position=0))
            value = conn.execute(query).scalar()
        return value


def _insert_if_absent(conn: Connection):
    """An INSERT of a position row that does nothing when another process inserted it first."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(positions).on_conflict_do_nothing(index_elements=["name"])
    return insert(positions).prefix_with("OR IGNORE")
