"""Which exceptions mean "the database cannot be reached, or will not take work, just now".

Such a failure is the ledger's operating condition, not a bug in a request, so the API answers it
with 503 ``unavailable`` and ``Retry-After`` (SPEC 6.6) instead of 500, and the CLI with its
operational exit status. The same outage reaches the code in many costumes: SQLAlchemy wraps the
driver's error (and flags a connection it had to drop), psycopg and its pool raise their own,
eventsourcing re-raises either driver's error as its own class with the original as ``__cause__``,
and sqlite3 says "unable to open database file" with the same class it uses for a typo in SQL.
``is_unreachable`` looks through the wrappers to the driver's error and decides there.

The message of an error is read only to tell sqlite3's cases apart; it is never shown or logged
(a PostgreSQL message can quote SQL and the values in it).
"""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
from eventsourcing import persistence as es
from sqlalchemy import exc as sa

#: sqlite3.OperationalError messages that mean the file cannot be used now (missing directory,
#: unreadable or read-only file, full disk, another process holding the lock for too long), as
#: opposed to the same class raised for SQL the ledger got wrong.
SQLITE_UNAVAILABLE = (
    "unable to open database",
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
)

#: How many wrapped errors are followed at most (a cycle in ``__cause__`` cannot loop forever).
_MAX_DEPTH = 8


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or the driver error it wraps) means the database is down or will not take
    work just now, so that the same request is worth retrying later."""
    current: BaseException | None = error
    for _ in range(_MAX_DEPTH):
        if current is None:
            return False
        verdict = _verdict(current)
        if verdict is not None:
            return verdict
        current = _wrapped(current)
    return False


def _verdict(error: BaseException) -> bool | None:
    """True or False when ``error`` itself decides; None to look at the error it wraps."""
    if isinstance(error, sa.DBAPIError):
        return True if error.connection_invalidated else None  # else the driver's error decides
    if isinstance(error, (sa.TimeoutError, sa.DisconnectionError)):
        return True  # no pooled connection came free in time, or the pool found one dead
    if isinstance(error, (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests, psycopg_pool.PoolClosed)):
        return True
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        # Connection refused or lost, server shutting down, too many connections, lock or
        # statement timeout, deadlock, disk full: all the server's state, not the request's.
        return True
    if isinstance(error, es.ConnectionUnavailableError):
        return True  # eventsourcing's own pool (SQLite) had no connection free in time
    if isinstance(error, (es.OperationalError, es.InterfaceError)):
        return None if error.__cause__ is not None else False  # the driver's error decides
    if isinstance(error, sqlite3.OperationalError):
        message = str(error).lower()
        return any(marker in message for marker in SQLITE_UNAVAILABLE)
    return None


def _wrapped(error: BaseException) -> BaseException | None:
    """The error ``error`` was raised from: SQLAlchemy keeps the driver's as ``orig``."""
    if isinstance(error, sa.DBAPIError) and isinstance(error.orig, BaseException):
        return error.orig
    return error.__cause__
