"""Where each read model is stopped, durably: the log entry it could not take, and why, by type only.

A stored event a read model cannot take (text its database refuses, a bug in its code) must not stop
the others, and must not be forgotten: the runner (projections/runner.py) writes a row here in the
same transaction as the positions, so every process and ``ledger status`` see the same stall, and a
catch-up that gets past the entry (the code fixed, the process restarted) deletes it in the
transaction that moves the position on. Only the exception's type is kept, never its message: a
UnicodeEncodeError or a database error quotes the text it refused, which is record content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, Connection, DateTime, String, Table, delete, insert

from projections.db import metadata

stalls = Table(
    "projection_stalls",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),  # the notification id of the entry it cannot take
    Column("error", String(128), nullable=False),  # the exception's type name, nothing else
    Column("since", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Stall:
    """A read model stopped before log position ``position`` (a notification id), by an ``error``
    (an exception type name) it raised on that entry alone, first seen at ``since``."""

    read_model: str
    position: int
    error: str
    since: datetime

    def as_dict(self) -> dict:
        return {"read_model": self.read_model, "position": self.position, "error": self.error,
                "since": self.since.isoformat()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReadModelStatus:
    """How far one read model has followed the log: its ``position`` and the log's ``head`` (both
    notification ids), ``lag`` = head - position, and its stall if it is stopped."""

    name: str
    position: int
    head: int
    lag: int
    stall: Stall | None

    def as_dict(self) -> dict:
        return {"name": self.name, "position": self.position, "head": self.head, "lag": self.lag,
                "stall": None if self.stall is None else self.stall.as_dict()}  # fmt: skip


def error_name(error: BaseException) -> str:
    """The type name of what a read model raised, looking through SQLAlchemy's wrapper to the
    driver's own exception (``DataError``, ``IntegrityError``...): a name, never a message."""
    original = getattr(error, "orig", None)
    return type(original if isinstance(original, BaseException) else error).__name__[:128]


def record_stall(conn: Connection, name: str, position: int, error: BaseException) -> Stall:
    """Write (or replace) the stall of read model ``name`` at ``position``; run it in the
    transaction that holds the read model's position row."""
    stall = Stall(name, position, error_name(error), datetime.now(timezone.utc))
    conn.execute(delete(stalls).where(stalls.c.name == name))
    conn.execute(insert(stalls).values(name=name, position=position, error=stall.error, since=stall.since))
    return stall


def clear_stall(conn: Connection, name: str) -> None:
    """Forget read model ``name``'s stall: it took the entry, or it is being rebuilt."""
    conn.execute(delete(stalls).where(stalls.c.name == name))


def stall_of(name: str, position: int | None, error: str | None, since: datetime | None) -> Stall | None:
    """A Stall from the columns of a (possibly absent, outer-joined) stall row."""
    if position is None or error is None or since is None:
        return None
    moment = since.replace(tzinfo=timezone.utc) if since.tzinfo is None else since.astimezone(timezone.utc)
    return Stall(name, position, error, moment)  # SQLite hands back naive UTC times
