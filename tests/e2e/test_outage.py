"""A database that cannot be reached: 503 ``unavailable`` with ``Retry-After`` from every endpoint
(the web view an outage page), one log line per failed request and no traceback, and the server
answering again by itself once the database is back (SPEC 6.6).

The PostgreSQL case stops and restarts a throwaway cluster of its own under a real ``ledger serve``;
the SQLite case takes the database's folder away from a served ledger and gives it back.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import psycopg_pool
import pytest
import sqlalchemy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing import persistence as es

from api import problems, tokens
from api.bootstrap import bootstrap
from api.settings import Settings
from projections.eventstore import eventsourcing_env
from api.web_session import CSRF_FIELD
from domain import envelope as dsse
from domain.ledger import Ledger
from projections.db import make_engine
from projections.dberrors import is_unreachable
from tests.api_live import fresh_nhs_number, served_ledger
from tests.conftest import BACKENDS, concern
from tests.served_process import free_port, ledger_serve
from tests.e2e.test_api_records import assert_problem
from tests.web_demo import csrf_of

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OUTAGE_TEXT = "The ledger cannot reach its database just now; try again in a minute."


def raised(action) -> BaseException:
    try:
        action()
    except BaseException as exc:  # noqa: BLE001 - the error is what is examined
        return exc
    raise AssertionError("expected an error")


def refused_port_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres"


# What counts as unreachable, on real errors of each driver -------------------------------------------


def test_a_refused_postgresql_connection_is_unreachable_through_every_wrapper():
    driver = raised(lambda: psycopg.connect(refused_port_url().replace("+psycopg", ""), connect_timeout=5))
    engine = sqlalchemy.create_engine(refused_port_url(), pool_pre_ping=True)
    wrapped = raised(lambda: engine.connect())
    engine.dispose()
    try:
        raise es.OperationalError("the pool could not connect") from driver
    except es.OperationalError as exc:
        eventsourcing_error = exc
    timeout = psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec")
    for error in (driver, wrapped, eventsourcing_error, timeout):
        assert is_unreachable(error), type(error)


def test_a_sqlite_file_that_cannot_be_opened_is_unreachable_but_bad_sql_is_a_bug(tmp_path: Path):
    missing = tmp_path / "gone" / "ledger.db"
    driver = raised(lambda: sqlite3.connect(missing).execute("SELECT 1"))
    engine = sqlalchemy.create_engine(f"sqlite:///{missing}")
    wrapped = raised(lambda: engine.connect())
    engine.dispose()
    event_store = raised(lambda: Ledger(env=eventsourcing_env(f"sqlite:///{missing}")))
    assert isinstance(event_store, es.InterfaceError) and isinstance(event_store.__cause__, sqlite3.OperationalError)
    assert is_unreachable(driver) and is_unreachable(wrapped) and is_unreachable(event_store)
    bad_sql = raised(lambda: sqlite3.connect(tmp_path / "here.db").execute("SELECT * FROM no_such_table"))
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'here.db'}")
    with engine.connect() as conn:
        wrapped_bad_sql = raised(lambda: conn.execute(sqlalchemy.text("SELECT * FROM no_such_table")))
    engine.dispose()
    assert not is_unreachable(bad_sql) and not is_unreachable(wrapped_bad_sql)
    assert not is_unreachable(es.OperationalError("Can't do multi-row tracking with single-row tracking table"))
    assert not is_unreachable(RuntimeError("not a database error"))


def test_sql_the_database_refuses_is_a_bug_not_an_outage_on_either_backend(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn:
        error = raised(lambda: conn.execute(sqlalchemy.text("SELECT * FROM no_such_table_here")))
    engine.dispose()
    assert isinstance(error, sqlalchemy.exc.DBAPIError) and not is_unreachable(error)


# A served ledger whose store fails in a handler: each driver's outage is a 503 --------------------


@pytest.fixture(params=BACKENDS)
def served(request, tmp_path: Path) -> Iterator[tuple]:
    (tmp_path / "ledger").mkdir()
    with served_ledger(request.param, tmp_path / "ledger") as (services, base_url):
        yield services, base_url, tmp_path / "ledger"


def _agency_with_token(services) -> tuple[str, Ed25519PrivateKey, str]:
    agency = f"agency-{fresh_nhs_number()}"
    key = Ed25519PrivateKey.generate()
    services.ledger.register_agency(agency, "police", "Fictional police", key.public_key(), serves=["309"], by="cli")
    services.runner.catch_up()
    secret, _ = tokens.issue(services.engine, "agency", agency=agency)
    return agency, key, secret


def _outage_errors() -> list[BaseException]:
    """One error of each kind an outage arrives as, each as its driver or wrapper raises it."""
    driver = psycopg.OperationalError("connection failed: Connection refused")
    errors: list[BaseException] = [
        sqlalchemy.exc.OperationalError("SELECT 1", {}, driver),
        sqlalchemy.exc.DBAPIError("SELECT 1", {}, psycopg.DatabaseError("server closed"), connection_invalidated=True),
        driver,
        psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec"),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file")),
    ]
    for cls in (es.OperationalError, es.InterfaceError):
        try:
            raise cls("pool failed") from psycopg.OperationalError("server closed the connection")
        except cls as exc:
            errors.append(exc)
    return errors


def test_a_store_outage_inside_a_handler_is_503_with_retry_after_and_one_log_line(served, monkeypatch, caplog):
    services, base_url, _ = served
    agency, key, secret = _agency_with_token(services)
    envelope = dsse.sign(json.dumps(concern("OUT-1", agency=agency)).encode(), key)
    errors = iter(_outage_errors())
    count = len(_outage_errors())

    def failing_submit_many(*_args, **_kwargs):
        raise next(errors)

    monkeypatch.setattr(services.ledger, "submit_many", failing_submit_many)
    caplog.set_level("INFO", logger="ledger.http")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as client:
        for _ in range(count):
            caplog.clear()
            response = client.post("/v1/records", json=envelope)
            assert_problem(response, 503, "unavailable")
            assert response.headers["retry-after"] == str(problems.RETRY_AFTER_SECONDS)
            (line,) = [r.getMessage() for r in caplog.records if "/v1/records" in r.getMessage()]
            assert line.startswith("POST /v1/records 503 ") and "database unavailable" in line, line
            assert "Connection refused" not in line and "server closed" not in line and "\n" not in line
        monkeypatch.setattr(services.ledger, "submit_many", lambda *a, **k: 1 / 0)
        caplog.clear()
        assert_problem(client.post("/v1/records", json=envelope), 500, "internal-error")
        (line,) = [r.getMessage() for r in caplog.records if "/v1/records" in r.getMessage()]
        assert "POST /v1/records 500 " in line and "unhandled: ZeroDivisionError at api/" in line, line


def test_a_sqlite_ledger_whose_folder_vanished_answers_503_then_recovers_when_it_is_back(tmp_path: Path):
    (tmp_path / "ledger").mkdir()
    with served_ledger("sqlite", tmp_path / "ledger") as (services, base_url):
        agency, key, secret = _agency_with_token(services)
        envelope = dsse.sign(json.dumps(concern("GONE-1", agency=agency)).encode(), key)
        reader = tokens.issue(services.engine, "inquiry", holder="Reviewer")[0]
        away = tmp_path / "away"
        (tmp_path / "ledger").rename(away)
        services.engine.dispose()  # pooled connections hold the moved file open; new ones look for it
        try:
            with httpx.Client(base_url=base_url, timeout=60) as client:
                post = client.post("/v1/records", json=envelope, headers={"Authorization": f"Bearer {secret}"})
                read = client.get("/v1/log/checkpoint", headers={"Authorization": f"Bearer {reader}"})
            for response in (post, read):
                assert_problem(response, 503, "unavailable")
                assert response.headers["retry-after"] == str(problems.RETRY_AFTER_SECONDS)
        finally:
            away.rename(tmp_path / "ledger")
        with httpx.Client(base_url=base_url, timeout=60) as client:
            post = client.post("/v1/records", json=envelope, headers={"Authorization": f"Bearer {secret}"})
            assert post.status_code == 201, post.text  # nothing was stored while the file was away
            assert client.get("/v1/log/checkpoint", headers={"Authorization": f"Bearer {reader}"}).status_code == 200


# PostgreSQL going away under a real server and coming back ----------------------------------------


class ThrowawayCluster:
    """A PostgreSQL 15 cluster of its own in a temporary folder, on a free port of 127.0.0.1, trust
    auth, run as the ``postgres`` user (initdb refuses root)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-outage-"))
        shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "pg.log"),
                  "-o", options, "-w", "-t", "120", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "120", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def throwaway_cluster() -> Iterator[ThrowawayCluster]:
    cluster = ThrowawayCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)


def _requests(served, agency_token: str, reader_token: str, envelope: dict, nhs: str, browser: httpx.Client):
    """The four requests of the outage test: agency POST, chronology, checkpoint, a web page."""
    with served.client(agency_token) as agency, served.client(reader_token) as reader:
        return {
            "POST /v1/records": agency.post("/v1/records", json=envelope),
            "GET /v1/chronology": reader.get("/v1/chronology", params={"nhs_number": nhs}),
            "GET /v1/log/checkpoint": reader.get("/v1/log/checkpoint"),
            "GET /": browser.get("/"),
        }


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_outage_gives_503_everywhere_then_the_same_server_recovers(tmp_path: Path):
    with throwaway_cluster() as cluster:
        settings = Settings(database_url=cluster.url, checkpoint_key=str(tmp_path / "checkpoint.key"))
        services = bootstrap(settings)
        try:
            agency, key, agency_token = _agency_with_token(services)
            reader_token = tokens.issue(services.engine, "practitioner", local_authority="309", holder="Sam")[0]
            nhs = fresh_nhs_number()
            subject = {"nhs_number": nhs, "given_name": "Ada", "family_name": "Example"}
            first = dsse.sign(json.dumps(concern("PG-1", agency=agency, subject=subject)).encode(), key)
            second = dsse.sign(json.dumps(concern("PG-2", agency=agency, subject=subject)).encode(), key)
        finally:
            services.close()
        with ledger_serve(settings, tmp_path) as served, served.client() as browser:
            form = {"token": reader_token, CSRF_FIELD: csrf_of(browser.get("/sign-in").text)}
            signed_in = browser.post("/sign-in", data=form)
            assert signed_in.status_code == 303, signed_in.text
            before = _requests(served, agency_token, reader_token, first, nhs, browser)
            assert [r.status_code for r in before.values()] == [201, 200, 200, 200], served.log()

            cluster.stop()
            during = _requests(served, agency_token, reader_token, second, nhs, browser)
            for name in during:  # each failed request's one line, once the server has written it
                method, path = name.split(" ")
                lines = served.lines_about(method, path, at_least=2)
                failed = [line for line in lines if f"{method} {path} 503 " in line]
                assert len(failed) == 1 and "database unavailable: " in failed[0], (name, served.log())
            log = served.log()
            for name, response in during.items():
                assert response.status_code == 503, (name, response.text, log)
                assert response.headers["retry-after"] == str(problems.RETRY_AFTER_SECONDS), name
            for name in ("POST /v1/records", "GET /v1/chronology", "GET /v1/log/checkpoint"):
                assert_problem(during[name], 503, "unavailable")
            assert during["GET /"].headers["content-type"].startswith("text/html")
            assert OUTAGE_TEXT in during["GET /"].text and "Traceback" not in during["GET /"].text
            assert "Traceback" not in log, log
            assert nhs not in log and agency_token not in log and reader_token not in log

            cluster.start()
            deadline = time.monotonic() + 180
            while True:
                after = _requests(served, agency_token, reader_token, second, nhs, browser)
                if [r.status_code for r in after.values()] in ([201, 200, 200, 200], [200, 200, 200, 200]):
                    break
                assert time.monotonic() < deadline, ({k: r.status_code for k, r in after.items()}, served.log())
                assert all(r.status_code in (200, 201, 503) for r in after.values()), served.log()
                time.sleep(1)
            assert served.process.poll() is None  # the same server, never restarted
            assert len(after["GET /v1/chronology"].json()["entries"]) == 2
            assert "Traceback" not in served.log()
