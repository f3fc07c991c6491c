"""One database URL selects the ledger's database, for the event store and the read models alike.

``sqlite:///relative.db`` (``sqlite:////absolute/path.db``) is a SQLite file, and
``postgresql://user@host:5432/db`` a PostgreSQL database, where ``?schema=name`` keeps a ledger in
its own schema (how tests and side-by-side ledgers share one server). Anything else is refused when
the ledger opens, in one line saying what a valid URL looks like: a slip such as ``sqlite://x.db``
must not put the ledger somewhere else, or nowhere, without a word. Messages never show a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from domain.errors import LedgerError, Unavailable

DEFAULT_URL = "sqlite:///ledger.db"
VALID_FORMS = "sqlite:///relative.db, sqlite:////absolute/path.db or postgresql://user@host:5432/db[?schema=name]"
#: Seconds to wait for PostgreSQL to accept a connection before saying it cannot be reached.
CONNECT_TIMEOUT = 5
_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class DatabaseUrlError(LedgerError):
    """The database URL names no database the ledger can use; the message says what a valid one is."""

    slug = "bad-database-url"


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """Where a PostgreSQL URL points, with the defaults filled in."""

    host: str
    port: int
    dbname: str
    user: str
    password: str
    schema: str


def is_postgres(url: str) -> bool:
    """Whether the URL selects PostgreSQL (``postgresql://``, ``postgres://``, ``postgresql+driver://``)."""
    return url.partition(":")[0].split("+")[0].lower() in _POSTGRES_SCHEMES


def check_url(url: str) -> None:
    """Raise DatabaseUrlError unless the URL names a database the ledger can use."""
    if is_postgres(url):
        postgres_target(url)
    else:
        sqlite_path(url)


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme != "sqlite":
        problem = f"the scheme {scheme!r} is not supported" if scheme else "it has no scheme"
        raise _refused(url, f"{problem} (sqlite or postgresql)")
    if url[: len(_SQLITE_PREFIX)].lower() != _SQLITE_PREFIX:
        raise _refused(url, "a sqlite URL has three slashes before a relative path, four before an absolute one")
    path = url[len(_SQLITE_PREFIX):]
    if not path:
        raise _refused(url, "a sqlite URL needs a file path")
    return path


def postgres_target(url: str) -> PostgresTarget:
    """Host, port, database, user, password and schema of a PostgreSQL URL."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        raise _refused(url, "its host or port cannot be read") from None
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise _refused(url, "a postgresql URL names one database after host and port")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"schema"})
    if unknown:
        raise _refused(url, f"the only query parameter it may have is schema, not {', '.join(unknown)}")
    schema = query.get("schema", ["public"])
    if len(schema) != 1 or not _SCHEMA_NAME.fullmatch(schema[0]):
        raise _refused(url, "schema must be one name of letters, digits and underscores")
    return PostgresTarget(
        host=parts.hostname or "127.0.0.1",
        port=port,
        dbname=dbname,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        schema=schema[0],
    )


def postgres_schema(url: str) -> str:
    """The PostgreSQL schema a URL names (``public`` unless ``?schema=`` says otherwise)."""
    return postgres_target(url).schema


def unreachable(url: str, reason: str | None = None) -> Unavailable:
    """The refusal for a database that cannot be reached: where the ledger looked (never the
    password), how long it waited and, when the driver said, why. One line."""
    reason = f" ({reason.strip().splitlines()[0]})" if reason and reason.strip() else ""
    if is_postgres(url):
        target = postgres_target(url)
        return Unavailable(
            f"cannot connect to PostgreSQL at {target.host}:{target.port} (database {target.dbname}) within "
            f"{CONNECT_TIMEOUT} s{reason}; check that it is running and that the database URL is right"
        )
    path = sqlite_path(url)
    return Unavailable(f"cannot open the SQLite database {path}{reason}; check the path and its permissions")


def libpq_reason(error: BaseException) -> str:
    """What libpq says went wrong, without the preamble: from 'connection to server at "h", port p
    failed: Connection refused' keep 'Connection refused' (host and port are named already)."""
    return str(error).strip().splitlines()[0].rpartition(": ")[2].strip() if str(error).strip() else ""


def _refused(url: str, problem: str) -> DatabaseUrlError:
    shown = _shown(url)
    return DatabaseUrlError(f"database URL {shown!r} is not valid: {problem}; a valid URL looks like {VALID_FORMS}")


def _shown(url: str) -> str:
    """The URL with any password masked, on one line, fit to print."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            url = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    except ValueError:
        url = url.partition(":")[0] + ":..."
    return " ".join(url.split())[:200]
