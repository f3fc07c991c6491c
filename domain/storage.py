"""One database URL selects the event store (SPEC section 5).

``sqlite:///path`` selects eventsourcing's SQLite recorder, ``postgresql://user@host:port/db`` its
PostgreSQL recorder. A ``schema`` query parameter (``?schema=name``) keeps a ledger in its own
PostgreSQL schema, which is how tests and side-by-side ledgers share one server.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

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
            "CREATE_TABLE": "y",
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": sqlite_path(url),
        "SQLITE_LOCK_TIMEOUT": "30",
        "CREATE_TABLE": "y",
    }
