"""Does each read model equal a rebuild of it from the log? (SPEC 6.5, ``ledger verify --database-url``)

Every read model is rebuilt from the event store into scratch tables that exist only inside one
transaction, which is rolled back afterwards: the connection's temporary schema (``temp`` on
SQLite, ``pg_temp`` on PostgreSQL), reached through SQLAlchemy's schema translation so the read
models' own code writes there unchanged. Each is fed the log up to the position its live tables
record (read in the same snapshot as those tables), then every table is compared with its live
twin row by row in primary-key order, streamed, so the first added, changed or deleted row is
named. Nothing is written to the live database and no file is made. A read model must read only its
own tables while it applies (projections/runner.py asks the same).

Rows are named by their primary key when it is numeric (a notification id), else by their place in
key order: text keys can be identifiers of a child, which a verifier's output must not show.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, select, text

from domain.ledger import Ledger
from projections.db import metadata, readers
from projections.runner import LogItem, Projection, positions
from projections.stalls import error_name

_STREAM = {"stream_results": True, "yield_per": 500}


@dataclass(frozen=True, slots=True)
class Difference:
    """Where a read model first differs from its rebuild from the log."""

    read_model: str
    table: str
    row: str
    why: str

    def __str__(self) -> str:
        return f"read model {self.read_model}, table {self.table}, {self.row}: {self.why}"


def first_difference(
    engine: Engine, ledger: Ledger, projections: Sequence[Projection], batch_size: int = 1000
) -> Difference | None:
    """Rebuild ``projections`` from ``ledger``'s log into scratch tables and return the first row in
    which their live tables differ, or None when every table equals its rebuild."""
    postgres = engine.dialect.name == "postgresql"
    with readers(engine).connect() as conn:
        if postgres:  # one snapshot for the live tables and the positions they were built to
            conn.execution_options(isolation_level="REPEATABLE READ")
        transaction = conn.begin()
        try:
            live_schema = conn.execute(text("SELECT current_schema()")).scalar_one() if postgres else "main"
            marks = {name: position for name, position in conn.execute(select(positions.c.name, positions.c.position))}
            conn.execution_options(schema_translate_map={None: "pg_temp" if postgres else "temp"})
            metadata.create_all(conn, tables=[t for p in projections for t in p.tables], checkfirst=False)
            found = _rebuild(conn, ledger, projections, marks, batch_size)
            for projection in projections:
                for table in projection.tables:
                    found = found or _compare(conn, projection.name, table, live_schema)
            return found
        finally:
            transaction.rollback()


def _rebuild(
    conn: Connection, ledger: Ledger, projections: Sequence[Projection], marks: dict[str, int], batch_size: int
) -> Difference | None:
    """Feed each projection the log up to its live position, in batches, as the runner does."""
    last = max((marks.get(p.name, 0) for p in projections), default=0)
    position = 0
    while position < last:
        notifications = ledger.recorder.select_notifications(
            start=position, limit=batch_size, stop=last, inclusive_of_start=False
        )
        if not notifications:
            return None
        items = []
        for notification in notifications:
            try:
                items.append(LogItem(notification.id, ledger.mapper.to_domain_event(notification)))
            except Exception as error:  # noqa: BLE001 - an altered event fails in any part of decoding
                return Difference("(every one)", "-", f"log position {notification.id}", f"cannot be decoded ({error_name(error)})")
        for projection in projections:
            mine = [item for item in items if item.notification_id <= marks.get(projection.name, 0)]
            if not mine:
                continue
            try:
                projection.apply(conn, mine)
            except Exception as error:  # noqa: BLE001 - the live read model took what its rebuild refuses
                why = f"a rebuild from the log cannot take it ({error_name(error)}), but the live read model moved past it"
                return Difference(projection.name, "-", f"log positions {mine[0].notification_id} to {mine[-1].notification_id}", why)
        position = notifications[-1].id
    return None


def _compare(conn: Connection, read_model: str, table: Table, live_schema: str) -> Difference | None:
    """The first row in which the live table and its rebuild (the same table, translated to the
    scratch schema) differ, walking both in key order."""
    live = table.to_metadata(MetaData(), schema=live_schema)
    names = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
    numeric = all(isinstance(table.c[name].type, Integer) for name in names)
    live_rows = _ordered(conn, live, names)
    rebuilt_rows = _ordered(conn, table, names)
    columns = list(table.columns.keys())
    place = 0

    def where(row) -> str:
        if numeric:
            return "row " + ", ".join(f"{n}={row._mapping[n]}" for n in names)
        return f"row {place + 1} in key order"

    live_row, rebuilt_row = next(live_rows, None), next(rebuilt_rows, None)
    while live_row is not None or rebuilt_row is not None:
        live_key = None if live_row is None else _key(live_row, names)
        rebuilt_key = None if rebuilt_row is None else _key(rebuilt_row, names)
        if rebuilt_key is None or (live_key is not None and live_key < rebuilt_key):
            return Difference(read_model, table.name, where(live_row), "is not in a rebuild from the log (added or altered)")
        if live_key is None or rebuilt_key < live_key:
            return Difference(read_model, table.name, where(rebuilt_row), "is missing: a rebuild from the log has it (deleted or altered)")
        if tuple(live_row) != tuple(rebuilt_row):
            differing = [name for name, a, b in zip(columns, live_row, rebuilt_row) if a != b]
            return Difference(read_model, table.name, where(live_row), f"{', '.join(differing)} differ from a rebuild from the log")
        live_row, rebuilt_row = next(live_rows, None), next(rebuilt_rows, None)
        place += 1
    return None


def _ordered(conn: Connection, table: Table, names: list[str]) -> Iterator:
    """Every row of ``table`` in key order, streamed; text compares by code point on both backends
    (PostgreSQL's "C" collation is UTF-8 byte order), as Python compares the keys."""
    order = []
    for name in names:
        column: Column = table.c[name]
        if isinstance(column.type, String) and conn.dialect.name == "postgresql":
            order.append(column.collate("C").nulls_last())
        else:
            order.append(column.nulls_last())
    return iter(conn.execute(select(table).order_by(*order), execution_options=_STREAM))


def _key(row, names: list[str]) -> tuple:
    return tuple((row._mapping[n] is None, row._mapping[n]) for n in names)

