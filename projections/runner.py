"""Follows the global log and keeps each read model up to date, exactly once, and never wedged.

Each projection's position is stored in the same transaction as the rows it writes, and the position
row is locked first, so concurrent catch-ups (threads or processes) serialise and a crash at any
point loses or repeats nothing. The same code runs on SQLite (polling) and PostgreSQL.

One stored event a read model cannot take (text its database refuses, a bug) must not stop the
others: a batch is first applied to every read model in one transaction (one commit on the ingest
path); if anything fails, the batch is applied again with each read model in its own savepoint, so
only the one that fails is rolled back. Its batch is halved until the entry that fails on its own
is found; everything before it is kept, and the stall is written down (projections/stalls.py) in
the same transaction. The others, integrity above all, move on, and then ``catch_up`` raises
``ReadModelStalled``. A stalled read model retries only that one entry on each later catch-up, which
costs one small apply; once it goes in (the code fixed, the process restarted) the stall is gone.
A read model must therefore never read another's tables while it applies: each stops on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import BigInteger, Column, Connection, Engine, String, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from domain.errors import ReadModelStalled
from domain.ledger import Ledger
from projections.db import create_tables, hold_ddl_lock, metadata, readers
from projections.stalls import ReadModelStatus, Stall, clear_stall, error_name, record_stall, stall_of, stalls

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


@dataclass(slots=True)
class _Mark:
    """A read model's place within one transaction: its position and its stall, if stopped."""

    position: int
    stall: Stall | None


@dataclass(frozen=True, slots=True)
class _Batch:
    """Log items read in order; ``broken`` is the (notification id, error) of an event that could not
    even be decoded, just after the items: every read model stops there."""

    items: list[LogItem]
    read: int
    broken: tuple[int, Exception] | None = None


class ProjectionRunner:
    """Catches projections up with the log; one per process, shared by its threads."""

    def __init__(self, ledger: Ledger, engine: Engine, projections: Sequence[Projection], batch_size: int = 1000):
        self.ledger = ledger
        self.engine = engine
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def create_tables(self) -> None:
        """Create the position and stall tables and every projection's tables (safe to repeat)."""
        tables = [positions, stalls] + [t for p in self.projections.values() for t in p.tables]
        create_tables(self.engine, tables)

    def catch_up(self, require: Collection[str] | None = None) -> None:
        """Apply everything appended since each projection's position.

        Every read model that can advances, whatever another one does. Then, if one is stopped at
        an entry it cannot take, raises ReadModelStalled naming the first (in registration order)
        among ``require`` (default: every read model): a caller whose answer needs only some read
        models names them, and is not refused for a stall elsewhere.
        """
        with self._lock:
            stalled = self._follow(list(self.projections.values()))
        self._raise_for(stalled, require)

    def rebuild(self, name: str, recreate: bool = False) -> None:
        """Replay the log from zero into one projection, in one transaction, while others serve.

        The projection's rows are deleted and written again in the same transaction, so readers
        keep seeing the old rows until it commits (PostgreSQL MVCC, SQLite WAL) and a catch-up of
        this read model waits for it (its position row is locked first; SQLite's write lock
        serialises anyway). No table is dropped unless ``recreate`` (for a changed table layout,
        with the servers stopped). Clears the stall; raises ReadModelStalled if the projection
        still cannot take an entry, having kept everything before it.
        """
        projection = self.projections[name]
        with self._lock:
            create_tables(self.engine, [positions, stalls, *projection.tables])
            with self.engine.begin() as conn:
                self._lock_position(conn, name)
                if recreate:
                    hold_ddl_lock(conn)
                    metadata.drop_all(conn, tables=list(projection.tables))
                    metadata.create_all(conn, tables=list(projection.tables))
                else:
                    for table in reversed(projection.tables):
                        conn.execute(delete(table))
                conn.execute(update(positions).where(positions.c.name == name).values(position=0))
                clear_stall(conn, name)
                stalled: dict[str, Stall] = {}
                while not stalled:
                    read, stalled = self._apply_step(conn, [projection], careful=True)
                    if read < self.batch_size:
                        break
        self._raise_for(stalled, None)

    def position(self, name: str) -> int:
        """The last notification id a projection has applied (0 before any)."""
        with readers(self.engine).connect() as conn:
            value = conn.execute(select(positions.c.position).where(positions.c.name == name)).scalar()
        return value or 0

    def status(self) -> list[ReadModelStatus]:
        """Each read model, in registration order: its position, the log's head, the lag between
        them and its stall if it is stopped. Reads only; catches nothing up."""
        head = self.ledger.recorder.max_notification_id() or 0
        query = select(positions.c.name, positions.c.position, stalls.c.position.label("stalled_at"),
                       stalls.c.error, stalls.c.since).select_from(_with_stalls())  # fmt: skip
        with readers(self.engine).connect() as conn:
            rows = {row.name: row for row in conn.execute(query)}
        found = []
        for name in self.projections:
            row = rows.get(name)
            position = 0 if row is None else row.position
            stall = None if row is None else stall_of(name, row.stalled_at, row.error, row.since)
            found.append(ReadModelStatus(name, position, head, max(0, head - position), stall))
        return found

    # Following the log ---------------------------------------------------------------------------

    def _follow(self, projections: Sequence[Projection]) -> dict[str, Stall]:
        """Step through the log until every read model not stopped is at its end; returns the stalls."""
        stalled: dict[str, Stall] = {}
        active = list(projections)
        while active:
            read, found = self._step(active)
            stalled.update(found)
            active = [p for p in active if p.name not in found]
            if read < self.batch_size:
                break
        return stalled

    def _step(self, projections: Sequence[Projection]) -> tuple[int, dict[str, Stall]]:
        """One batch: all read models in one transaction, or if that fails, each in a savepoint.
        Returns how many log items were read and the read models stopped in it."""
        try:
            with self.engine.begin() as conn:
                return self._apply_step(conn, projections, careful=False)
        except Exception as error:  # noqa: BLE001 - applied again below, one read model at a time
            if _unreachable(error):
                raise
        with self.engine.begin() as conn:
            return self._apply_step(conn, projections, careful=True)

    def _apply_step(
        self, conn: Connection, projections: Sequence[Projection], careful: bool
    ) -> tuple[int, dict[str, Stall]]:
        # Lock position rows in one fixed order, so concurrent catch-ups never deadlock.
        marks = {name: self._lock_position(conn, name) for name in sorted(p.name for p in projections)}
        found: dict[str, Stall] = {}
        guarded = {p.name for p in projections} if careful else set()
        for projection in projections:
            mark = marks[projection.name]
            if mark.stall is None:
                continue
            # A stopped read model tries again only the entry it stopped at, alone: one small apply,
            # and the others' batch is not read from its position.
            stall = self._guarded(conn, projection, self._read(mark.position, 1), mark)
            if stall is not None:
                found[projection.name] = stall
            guarded.add(projection.name)
        flowing = [p for p in projections if p.name not in found]
        if not flowing:
            return 0, found
        batch = self._read(min(marks[p.name].position for p in flowing), self.batch_size)
        for projection in flowing:  # in registration order
            mark = marks[projection.name]
            broken = batch.broken if batch.broken is not None and batch.broken[0] > mark.position else None
            unseen = _Batch([item for item in batch.items if item.notification_id > mark.position], 0, broken)
            if projection.name in guarded:
                stall = self._guarded(conn, projection, unseen, mark)
                if stall is not None:
                    found[projection.name] = stall
            elif unseen.broken is not None:
                raise unseen.broken[1]  # the careful pass records it
            elif unseen.items:
                self._apply(conn, projection, unseen.items, mark)
        return batch.read, found

    def _apply(self, conn: Connection, projection: Projection, items: Sequence[LogItem], mark: _Mark) -> None:
        mark.position = _write(conn, projection, items)

    def _attempt(
        self, conn: Connection, projection: Projection, items: Sequence[LogItem], mark: _Mark
    ) -> Exception | None:
        """Apply ``items`` in a savepoint; on failure roll back to it and return the error."""
        try:
            with conn.begin_nested():
                last = _write(conn, projection, items)
        except Exception as error:  # noqa: BLE001 - a read model's failure is recorded, not propagated
            if _unreachable(error):
                raise
            return error
        mark.position = last
        return None

    def _guarded(self, conn: Connection, projection: Projection, batch: _Batch, mark: _Mark) -> Stall | None:
        """Apply what of ``batch`` the projection can take; returns its stall, or None (cleared)."""
        failed: tuple[int, Exception] | None = None
        items = batch.items
        error = self._attempt(conn, projection, items, mark) if items else None
        while error is not None:  # halve until the entry that fails on its own
            if len(items) == 1:
                failed = (items[0].notification_id, error)
                break
            first, rest = items[: len(items) // 2], items[len(items) // 2 :]
            error = self._attempt(conn, projection, first, mark)
            if error is None:
                items, error = rest, self._attempt(conn, projection, rest, mark)
            else:
                items = first
        if failed is None and batch.broken is not None:
            failed = batch.broken
        if failed is None:
            if mark.stall is not None:
                clear_stall(conn, projection.name)
                mark.stall = None
            return None
        position, error = failed
        if mark.stall is None or (mark.stall.position, mark.stall.error) != (position, error_name(error)):
            mark.stall = record_stall(conn, projection.name, position, error)
        return mark.stall

    def _read(self, after: int, limit: int) -> _Batch:
        """Up to ``limit`` log items after notification id ``after``, decoded; stops before an event
        that cannot be decoded, naming it."""
        notifications = self.ledger.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        to_event = self.ledger.mapper.to_domain_event
        items = []
        for notification in notifications:
            try:
                items.append(LogItem(notification.id, to_event(notification)))
            except Exception as error:  # noqa: BLE001 - every read model stops at it, and says so
                return _Batch(items, len(items), (notification.id, error))
        return _Batch(items, len(notifications))

    def _raise_for(self, stalled: dict[str, Stall], require: Collection[str] | None) -> None:
        for name in self.projections:
            stall = stalled.get(name)
            if stall is not None and (require is None or name in require):
                raise ReadModelStalled(name, stall.position, stall.error)

    @staticmethod
    def _lock_position(conn: Connection, name: str) -> _Mark:
        """Read the projection's position and stall, holding its row lock until the transaction ends."""
        query = (
            select(positions.c.position, stalls.c.position.label("stalled_at"), stalls.c.error, stalls.c.since)
            .select_from(_with_stalls())
            .where(positions.c.name == name)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=positions)
        row = conn.execute(query).first()
        if row is None:
            conn.execute(_insert_if_absent(conn).values(name=name, position=0))
            row = conn.execute(query).first()
        return _Mark(row.position, stall_of(name, row.stalled_at, row.error, row.since))


def _write(conn: Connection, projection: Projection, items: Sequence[LogItem]) -> int:
    """Apply ``items`` and move the projection's position to the last of them; returns it."""
    projection.apply(conn, items)
    last = items[-1].notification_id
    conn.execute(update(positions).where(positions.c.name == projection.name).values(position=last))
    return last


def _with_stalls():
    """Positions outer-joined to the stalls table (most read models have no stall row)."""
    return positions.outerjoin(stalls, stalls.c.name == positions.c.name)


def _unreachable(error: BaseException) -> bool:
    """Whether an error says the database went away (not that a read model refused an entry)."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _insert_if_absent(conn: Connection):
    """An INSERT of a position row that does nothing when another process inserted it first."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(positions).on_conflict_do_nothing(index_elements=["name"])
    return insert(positions).prefix_with("OR IGNORE")
