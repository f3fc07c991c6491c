"""Database URLs and unreachable databases, at every place the ledger opens one.

A URL the ledger would misread is refused in one line saying what a valid URL looks like, before
anything is created; a database that cannot be reached is Unavailable (503) within seconds, naming
host and port (never the password), with the driver's error kept as the cause. The PostgreSQL cases
need no server: a closed port, and a socket that accepts connections but never answers.
"""

from __future__ import annotations

import socket
import string
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from eventsourcing.persistence import InfrastructureFactory, OperationalError
from eventsourcing.utils import Environment
from hypothesis import given, strategies as st

from api.bootstrap import bootstrap
from api.settings import Settings
from domain.errors import Unavailable
from projections.database_url import (
    CONNECT_TIMEOUT,
    DatabaseUrlError,
    PostgresTarget,
    check_url,
    postgres_target,
    sqlite_path,
)
from projections.db import make_engine
from projections.eventstore import eventsourcing_env, open_ledger
from tests.conftest import POSTGRES_URL

VALID_FORMS = ("sqlite:///relative.db", "sqlite:////absolute/path.db", "postgresql://user@host:5432/db[?schema=name]")
BOUND = 30  # seconds: generous for a loaded machine; the ledger gives up after CONNECT_TIMEOUT

#: Each malformed URL, and words its refusal must use to say what is wrong with it (words found
#: neither in the URL itself nor in the list of valid forms).
MALFORMED = [
    ("sqlite://ledger.db", "three slashes"),
    ("sqlite:ledger.db", "three slashes"),
    ("sqlite://", "three slashes"),
    ("sqlite:///", "file path"),
    ("ledger.db", "no scheme"),
    ("mysql://fictional@db.example/ledger", "'mysql'"),
    ("postgresql://fictional@db.example:5432", "names one database"),
    ("postgresql://fictional@db.example:5432/", "names one database"),
    ("postgresql://fictional@db.example:port/ledger", "host or port"),
    ("postgresql://fictional@db.example/ledger?sslmode=require", "only query parameter it may have is schema"),
    ('postgresql://fictional@db.example/ledger?schema=a"b', "letters, digits and underscores"),
]


def _open_with_bootstrap(url: str, tmp_path) -> None:
    bootstrap(Settings(database_url=url, checkpoint_key=str(tmp_path / "checkpoint.key"))).close()


OPENERS: dict[str, Callable] = {
    "open_ledger": lambda url, _tmp: open_ledger(url).close(),
    "make_engine": lambda url, _tmp: make_engine(url).dispose(),
    "bootstrap": _open_with_bootstrap,
}


def failure_within(bound: float, call: Callable[[], object]) -> tuple[BaseException, float]:
    """Run ``call`` in a thread; return what it raised and after how long. A call still running
    after ``bound`` seconds, or one that succeeds, fails the test (a hang must not hang the suite)."""
    outcome: dict = {}

    def run() -> None:
        started = time.monotonic()
        try:
            call()
        except BaseException as error:  # handed to the test below
            outcome["error"] = error
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound * 2)
    assert not thread.is_alive(), f"still waiting for the database after {bound * 2} s"
    assert "error" in outcome, "the database was opened, but it cannot be reached"
    return outcome["error"], outcome["seconds"]


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


# Malformed URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("opener", OPENERS)
@pytest.mark.parametrize(("url", "says"), MALFORMED)
def test_a_malformed_url_is_refused_in_one_line_that_shows_valid_urls(url, says, opener, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path would land here
    with pytest.raises(DatabaseUrlError) as refused:
        OPENERS[opener](url, tmp_path)
    message = str(refused.value)
    assert_one_line(message)
    assert says in message
    assert all(form in message for form in VALID_FORMS), message
    assert list(tmp_path.iterdir()) == []  # refused before anything was created


passwords = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=30)


@given(password=passwords, template=st.sampled_from([
    "mysql://fictional:{pw}@db.example/ledger",
    "postgresql://fictional:{pw}@db.example:5432",
    "postgresql://fictional:{pw}@db.example/ledger?sslmode=disable",
    "postgresql://fictional:{pw}@db.example:port/ledger",
]))  # fmt: skip
def test_a_refusal_never_shows_the_password(password, template):
    url = template.format(pw=password)
    with pytest.raises(DatabaseUrlError) as refused:
        check_url(url)
    assert password not in str(refused.value)
    assert "fictional:***@" in str(refused.value)


# Valid URLs -------------------------------------------------------------------------------------

names = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
paths = st.text(alphabet=string.ascii_letters + string.digits + "/._-", min_size=1, max_size=60)


@given(path=paths)
def test_a_sqlite_url_gives_back_its_path(path):
    """Three slashes then the path: ``sqlite:///a.db`` is the relative a.db, ``sqlite:////a.db`` /a.db."""
    assert sqlite_path(f"sqlite:///{path}") == path


@given(
    host=st.sampled_from(["127.0.0.1", "db.example", "localhost"]),
    port=st.integers(1, 65535),
    dbname=names,
    user=names,
    schema=names,
)
def test_a_postgres_url_gives_back_where_it_points(host, port, dbname, user, schema):
    url = f"postgresql://{user}@{host}:{port}/{dbname}?schema={schema}"
    assert postgres_target(url) == PostgresTarget(host, port, dbname, user, "", schema)


def test_a_postgres_url_may_leave_out_port_user_and_schema():
    assert postgres_target("postgres://db.example/ledger") == PostgresTarget(
        "db.example", 5432, "ledger", "postgres", "", "public"
    )


# Unreachable databases --------------------------------------------------------------------------


@pytest.fixture
def silent_postgres() -> Iterator[socket.socket]:
    """A listening socket whose connections are accepted (by the kernel) but never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener
    finally:
        listener.close()


def assert_unavailable_naming(error: BaseException, seconds: float, address: str) -> None:
    assert isinstance(error, Unavailable), repr(error)
    message = str(error)
    assert_one_line(message)
    assert f"PostgreSQL at {address} " in message
    assert error.__cause__ is not None  # the driver's error, kept for the log
    assert seconds < BOUND, f"took {seconds:.1f} s"


@pytest.mark.parametrize("opener", OPENERS)
def test_a_postgres_refusing_connections_is_named_within_seconds(opener, tmp_path):
    url = "postgresql://postgres:fictional-secret@127.0.0.1:1/test?schema=nowhere"
    error, seconds = failure_within(BOUND, lambda: OPENERS[opener](url, tmp_path))
    assert_unavailable_naming(error, seconds, "127.0.0.1:1")
    assert "fictional-secret" not in str(error)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("opener", OPENERS)
def test_a_postgres_that_never_answers_is_named_within_seconds(opener, tmp_path, silent_postgres):
    port = silent_postgres.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    error, seconds = failure_within(BOUND, lambda: OPENERS[opener](url, tmp_path))
    assert_unavailable_naming(error, seconds, f"127.0.0.1:{port}")
    assert seconds >= CONNECT_TIMEOUT - 1  # it did wait for an answer, then gave up


def test_the_event_stores_pool_gives_up_on_a_postgres_that_never_answers(silent_postgres):
    """open_ledger connects once before the pool exists; the pool must not wait long either (when
    the server stops answering after that, or for any later connection): POSTGRES_CONNECT_TIMEOUT."""
    port = silent_postgres.getsockname()[1]
    factory = InfrastructureFactory.construct(
        Environment("Ledger", eventsourcing_env(f"postgresql://postgres@127.0.0.1:{port}/test"))
    )
    try:
        error, seconds = failure_within(BOUND, factory.application_recorder)
    finally:
        silent_postgres.close()  # resets the pool's pending attempts, so it closes promptly
        factory.close()
    assert isinstance(error, OperationalError), repr(error)
    assert CONNECT_TIMEOUT - 1 <= seconds < BOUND, f"took {seconds:.1f} s"


@pytest.mark.parametrize("opener", OPENERS)
def test_a_missing_postgres_database_is_named_with_the_servers_reason(opener, tmp_path):
    server = postgres_target(POSTGRES_URL)
    auth = f"{quote(server.user)}:{quote(server.password)}" if server.password else quote(server.user)
    url = f"postgresql://{auth}@{server.host}:{server.port}/no_such_ledger_db"
    error, seconds = failure_within(BOUND, lambda: OPENERS[opener](url, tmp_path))
    assert_unavailable_naming(error, seconds, f"{server.host}:{server.port}")
    assert "no_such_ledger_db" in str(error) and "does not exist" in str(error)


@pytest.mark.parametrize("opener", ["open_ledger", "bootstrap"])
def test_a_sqlite_file_that_cannot_be_opened_is_unavailable_naming_it(opener, tmp_path):
    path = tmp_path / "no-such-directory" / "ledger.db"
    error, _ = failure_within(BOUND, lambda: OPENERS[opener](f"sqlite:///{path}", tmp_path))
    assert isinstance(error, Unavailable), repr(error)
    assert_one_line(str(error))
    assert str(path) in str(error) and error.__cause__ is not None
    assert list(tmp_path.iterdir()) == []
