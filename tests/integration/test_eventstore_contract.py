"""eventsourcing's own recorder contract, run against the ledger's recorders on both backends.

projections/eventstore.py subclasses eventsourcing's SQLite and PostgreSQL recorders (a check of
``expected_versions`` in the appending transaction; on PostgreSQL a batch sent as arrays, and table
creation serialised). Those overrides must keep every promise the stock recorders make: what
``insert_events`` returns, atomic batches, IntegrityError on a repeat, notification selection, no
interleaving of concurrent batches, subscriptions on PostgreSQL. So the library's own test cases
(eventsourcing.tests.persistence) run here unchanged, on recorders built exactly as the ledger
builds them: ``eventsourcing_env(url)`` -> infrastructure factory -> ``application_recorder()``.

Each PostgreSQL case runs in a fresh schema, dropped afterwards; their names say "Postgres" (CI
counts PostgreSQL tests by name). The few tests added below cover what the overrides add.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresFactory,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteProcessRecorder, SQLiteTrackingRecorder
from eventsourcing.tests import persistence as contract
from eventsourcing.utils import Environment

from domain.ledger import StaleAggregates
from projections.eventstore import BatchPostgresRecorder, CheckedSQLiteRecorder, PatientSQLiteFactory, eventsourcing_env
from tests.conftest import POSTGRES_URL, drop_postgres_schema, new_postgres_schema


class SQLiteTrackingRecorderSubclass(SQLiteTrackingRecorder):
    """For the factory contract: a tracking recorder class named by argument or topic."""


class PostgresTrackingRecorderSubclass(PostgresTrackingRecorder):
    """For the factory contract: a tracking recorder class named by argument or topic."""


class _SQLiteDatabase:
    """A fresh SQLite file per test, removed afterwards."""

    def setUp(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="ledger-contract-")
        self.database_url = f"sqlite:///{self._directory}/ledger.db"
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        shutil.rmtree(self._directory, ignore_errors=True)


class _PostgresDatabase:
    """A fresh PostgreSQL schema per test, dropped afterwards."""

    def setUp(self) -> None:
        self._schema = new_postgres_schema()
        self.database_url = f"{POSTGRES_URL.split('?')[0]}?schema={self._schema}"
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        drop_postgres_schema(self._schema)


class _LedgersRecorder:
    """``create_recorder`` as the ledger builds its recorder; every factory's pool closed after the test."""

    def setUp(self) -> None:
        super().setUp()
        self._factories: list[InfrastructureFactory[Any]] = []
        self._threads_before = set(threading.enumerate())

    def tearDown(self) -> None:
        # The library's non-interleaving case sets its readers' stop event but never joins them, so a
        # reader could still be inside sqlite3 when the pool closes its connection: Python's sqlite3
        # then crashes the interpreter (seen once in CI, exit 139). Let the test's threads finish first.
        # (Pools' own workers are daemons that stop when the pool closes.)
        for thread in set(threading.enumerate()) - self._threads_before:
            if thread.daemon:
                continue
            thread.join(timeout=60)
            self.assertFalse(thread.is_alive(), f"{thread.name} still running after the test")
        for factory in self._factories:
            factory.close()
        super().tearDown()

    def create_recorder(self):
        factory = InfrastructureFactory.construct(Environment("Ledger", eventsourcing_env(self.database_url)))
        self._factories.append(factory)
        recorder = factory.application_recorder()
        self.assertIs(type(recorder), self.recorder_class)
        return recorder


class _ExpectedVersions:
    """What the ledger's recorders add to the contract: a batch is appended only if each aggregate
    named in ``expected_versions`` is still at that version, else StaleAggregates and nothing stored."""

    def _event(self, originator_id, version: int = 1) -> StoredEvent:
        return StoredEvent(originator_id=originator_id, originator_version=version, topic="fictional", state=b"{}")

    def test_a_batch_judged_against_current_versions_is_appended(self) -> None:
        recorder = self.create_recorder()
        agency = uuid4()
        recorder.insert_events([self._event(agency), self._event(agency, 2)])
        record = self._event(uuid4())
        ids = recorder.insert_events([record], expected_versions={agency: 2})
        self.assertEqual(len(ids), 1)
        self.assert_events_eq(recorder.select_events(record.originator_id), [record])

    def test_a_batch_judged_against_a_stale_version_stores_nothing(self) -> None:
        recorder = self.create_recorder()
        agency, absent = uuid4(), uuid4()
        recorder.insert_events([self._event(agency), self._event(agency, 2)])
        before = recorder.max_notification_id()
        record = self._event(uuid4())
        for stale in ({agency: 1}, {agency: 3}, {agency: 2, absent: 1}):
            with self.assertRaises(StaleAggregates):
                recorder.insert_events([record], expected_versions=stale)
        self.assertEqual(recorder.select_events(record.originator_id), [])
        self.assertEqual(recorder.max_notification_id(), before)

    def test_a_repeat_is_still_an_integrity_error_when_versions_are_checked(self) -> None:
        recorder = self.create_recorder()
        agency, record = uuid4(), self._event(uuid4())
        recorder.insert_events([self._event(agency), record])
        with self.assertRaises(IntegrityError):
            recorder.insert_events([record], expected_versions={agency: 1})


# SQLite ----------------------------------------------------------------------------------------


class TestCheckedSQLiteRecorder(
    _SQLiteDatabase, _LedgersRecorder, _ExpectedVersions, contract.ApplicationRecorderTestCase
):
    recorder_class = CheckedSQLiteRecorder


class TestCheckedSQLiteRecorderNonInterleaving(
    _SQLiteDatabase, _LedgersRecorder, contract.NonInterleavingNotificationIDsBaseCase
):
    recorder_class = CheckedSQLiteRecorder


class TestPatientSQLiteFactory(contract.InfrastructureFactoryTestCase[PatientSQLiteFactory]):
    def setUp(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="ledger-contract-")
        self.env = Environment("Ledger", eventsourcing_env(f"sqlite:///{self._directory}/ledger.db"))
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        shutil.rmtree(self._directory, ignore_errors=True)

    def expected_factory_class(self):
        return PatientSQLiteFactory

    def expected_aggregate_recorder_class(self):
        return SQLiteAggregateRecorder

    def expected_application_recorder_class(self):
        return CheckedSQLiteRecorder

    def expected_tracking_recorder_class(self):
        return SQLiteTrackingRecorder

    def tracking_recorder_subclass(self):
        return SQLiteTrackingRecorderSubclass

    def expected_process_recorder_class(self):
        return SQLiteProcessRecorder

    def test_the_pool_waits_as_long_as_sqlite_does(self) -> None:
        self.assertEqual(self.factory.datastore.pool.pool_timeout, float(self.env["SQLITE_LOCK_TIMEOUT"]))


# PostgreSQL ------------------------------------------------------------------------------------


@pytest.mark.postgres
class TestBatchPostgresRecorder(
    _PostgresDatabase, _LedgersRecorder, _ExpectedVersions, contract.ApplicationRecorderTestCase
):
    recorder_class = BatchPostgresRecorder

    def test_insert_subscribe(self) -> None:
        """Optional in the contract (SQLite has no push subscriptions); PostgreSQL's LISTEN/NOTIFY
        must still fire for batches inserted as arrays."""
        self.optional_test_insert_subscribe()


@pytest.mark.postgres
class TestBatchPostgresRecorderNonInterleaving(
    _PostgresDatabase, _LedgersRecorder, contract.NonInterleavingNotificationIDsBaseCase
):
    recorder_class = BatchPostgresRecorder


@pytest.mark.postgres
class TestPostgresFactoryWithBatchPostgresRecorder(contract.InfrastructureFactoryTestCase[PostgresFactory]):
    def setUp(self) -> None:
        self._schema = new_postgres_schema()
        self.env = Environment("Ledger", eventsourcing_env(f"{POSTGRES_URL.split('?')[0]}?schema={self._schema}"))
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        drop_postgres_schema(self._schema)

    def expected_factory_class(self):
        return PostgresFactory

    def expected_aggregate_recorder_class(self):
        return PostgresAggregateRecorder

    def expected_application_recorder_class(self):
        return BatchPostgresRecorder

    def expected_tracking_recorder_class(self):
        return PostgresTrackingRecorder

    def tracking_recorder_subclass(self):
        return PostgresTrackingRecorderSubclass

    def expected_process_recorder_class(self):
        return PostgresProcessRecorder
