"""One stored event a read model cannot take stops that read model alone, says so, and is recoverable.

Poison is put in the log past the domain's checks: a record whose summary holds a lone surrogate
written straight to the event store (no database stores one as text), an event no code can decode,
or a read model monkeypatched to fail on one chosen record. The other read models, integrity above
all, keep following the log; ``catch_up`` raises ReadModelStalled; the stall is written down with the
entry's position and the error's type only; and once the fault is gone a restart or a rebuild
recovers with nothing lost.
"""

from __future__ import annotations

import json
import uuid

import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import func, select

from api.bootstrap import bootstrap
from api.cli import main
from domain import envelope as dsse
from domain.errors import ReadModelStalled
from domain.records import Record, record_aggregate_id
from projections.chronology import ChronologyProjection, entries
from projections.integrity import leaves
from tests.fictional_case import POLICE, agencies, concern  # noqa: F401  (fixture)

SECRET = "Fictional: text that must never appear in a status or an error"


def police_concern(record_id: str, **fields) -> dict:
    return concern(POLICE, record_id, {"local_id": f"L-{record_id}"}, "2026-03-01", "neglect", **fields)


def notification_of(services, agency: str, record_id: str) -> int:
    """The log position (notification id) of a stored record, from the integrity read model."""
    with services.engine.connect() as conn:
        query = select(leaves.c.notification_id).where(leaves.c.originator_id == str(record_aggregate_id(agency, record_id)))
        return conn.execute(query).scalar_one()


def chronology_count(services) -> int:
    with services.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(entries)).scalar_one()


def by_name(services) -> dict:
    return {status.name: status for status in services.runner.status()}


@pytest.fixture
def refusing_chronology(monkeypatch):
    """The chronology read model raises on any batch holding record P-POISON; returns the list of
    batches it was given, each as its notification ids."""
    apply = ChronologyProjection.apply
    calls: list[list[int]] = []

    def refusing_apply(self, conn, items):
        calls.append([item.notification_id for item in items])
        if any(isinstance(i.event, Record.Recorded) and i.event.record_id == "P-POISON" for i in items):
            raise RuntimeError(SECRET)
        apply(self, conn, items)

    monkeypatch.setattr(ChronologyProjection, "apply", refusing_apply)
    return calls


def test_a_read_model_failing_on_one_entry_stops_there_alone(services, agencies, settings, monkeypatch,
                                                             refusing_chronology) -> None:  # fmt: skip
    agencies.submit(police_concern("P-1"), police_concern("P-2"))
    with pytest.raises(ReadModelStalled) as raised:
        services.submit([agencies.envelope(p) for p in (police_concern("P-POISON"), police_concern("P-3"))])
    poison = notification_of(services, POLICE, "P-POISON")  # stored, and integrity took it
    assert (raised.value.read_model, raised.value.position, raised.value.error) == ("chronology", poison, "RuntimeError")
    assert SECRET not in str(raised.value)
    head = services.ledger.recorder.max_notification_id()
    status = by_name(services)
    for name, model in status.items():
        assert model.head == head
        if name != "chronology":
            assert (model.position, model.lag, model.stall) == (head, 0, None), name
    stopped = status["chronology"]
    assert stopped.position == notification_of(services, POLICE, "P-2") and stopped.lag == head - stopped.position
    assert (stopped.stall.read_model, stopped.stall.position, stopped.stall.error) == ("chronology", poison, "RuntimeError")
    assert chronology_count(services) == 2
    # Each later catch-up tries the one entry again, alone, and keeps saying so; nothing else changes.
    refusing_chronology.clear()
    with pytest.raises(ReadModelStalled):
        services.runner.catch_up()
    assert refusing_chronology == [[poison]]
    assert by_name(services)["chronology"].stall == stopped.stall  # the first sighting's time is kept
    with pytest.raises(ReadModelStalled):
        agencies.submit(police_concern("P-4"))
    assert notification_of(services, POLICE, "P-4") == services.ledger.recorder.max_notification_id()
    stored = services.ledger.recorder.select_notifications(start=0, limit=1000, inclusive_of_start=False)
    assert services.checkpoint().size == len(stored)  # every entry is a leaf, covered by a checkpoint
    services.runner.catch_up(require=["integrity", "risk"])  # callers needing only others are not refused
    # The code fixed, a restarted process takes the entry and everything after it.
    monkeypatch.undo()
    restarted = bootstrap(settings)
    try:
        restarted.runner.catch_up()
        assert [s.stall for s in restarted.runner.status()] == [None] * 7
        assert {s.lag for s in restarted.runner.status()} == {0}
        assert chronology_count(restarted) == 5
    finally:
        restarted.close()


def test_a_rebuild_after_the_fix_recovers_and_clears_the_stall(services, agencies, monkeypatch,
                                                               refusing_chronology) -> None:  # fmt: skip
    with pytest.raises(ReadModelStalled):
        agencies.submit(police_concern("P-1"), police_concern("P-POISON"), police_concern("P-2"))
    with pytest.raises(ReadModelStalled):  # still broken: the rebuild keeps what comes before the entry
        services.runner.rebuild("chronology")
    assert chronology_count(services) == 1 and by_name(services)["chronology"].stall is not None
    monkeypatch.undo()
    services.runner.rebuild("chronology")
    assert by_name(services)["chronology"].stall is None and by_name(services)["chronology"].lag == 0
    assert chronology_count(services) == 3


def test_a_failure_that_does_not_repeat_on_the_entry_alone_is_no_stall(services, agencies, monkeypatch) -> None:
    apply, failures = ChronologyProjection.apply, []

    def flaky_apply(self, conn, items):  # fails the whole batch twice (so once in its savepoint), then not
        if len(items) > 1 and len(failures) < 2:
            failures.append(len(items))
            raise RuntimeError("a passing failure")
        apply(self, conn, items)

    monkeypatch.setattr(ChronologyProjection, "apply", flaky_apply)
    agencies.submit(*(police_concern(f"P-{i}") for i in range(5)))
    assert len(failures) == 2 and chronology_count(services) == 5
    assert [s.stall for s in services.runner.status()] == [None] * 7


def test_a_record_whose_text_no_database_stores_stalls_only_the_models_storing_it(services, agencies, settings,
                                                                                   capsys) -> None:  # fmt: skip
    agencies.submit(police_concern("P-1"))
    raw = json.dumps(police_concern("P-POISON", summary=f"\ud800 {SECRET}")).encode()  # "\ud800" escaped: ASCII
    envelope = dsse.sign(raw, agencies.keys[POLICE])
    signatures = [{"keyid": s["keyid"], "sig": s["sig"]} for s in envelope["signatures"]]
    event = Record.recorded(agency=POLICE, record_id="P-POISON", payload_type=envelope["payloadType"],
                            payload=envelope["payload"], signatures=signatures, keyid=signatures[0]["keyid"])  # fmt: skip
    services.ledger.events.put([event])  # straight to the store, past every check of the door
    with pytest.raises(ReadModelStalled) as raised:
        services.runner.catch_up()
    poison = notification_of(services, POLICE, "P-POISON")
    assert raised.value.position == poison and "\ud800" not in str(raised.value) and SECRET not in str(raised.value)
    status = by_name(services)
    head = services.ledger.recorder.max_notification_id()
    for name in ("integrity", "risk", "access"):  # they store no record text: they follow the log
        assert (status[name].position, status[name].stall) == (head, None), name
    # The chronology stores the summary; it cannot (UnicodeEncodeError) or the domain now refuses
    # to read such a payload back (InvalidPayload): either way it stops at that entry and says so.
    assert status["chronology"].stall.position == poison
    assert status["chronology"].stall.error in ("UnicodeEncodeError", "InvalidPayload")
    assert all(s.stall.position == poison for s in status.values() if s.stall is not None)
    assert SECRET not in repr(status) and "\ud800" not in repr(status)
    with pytest.raises(ReadModelStalled):  # a later record is stored, has its receipt's leaf, but is told
        agencies.submit(police_concern("P-2"))
    assert notification_of(services, POLICE, "P-2") == services.ledger.recorder.max_notification_id()
    options = ["--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]
    assert main(["rebuild", "chronology", *options]) == 2
    err = capsys.readouterr().err
    assert f"read model chronology cannot take log entry at position {poison}" in err and SECRET not in err
    assert chronology_count(services) == 1, "the rebuild kept what came before the entry"
    assert main(["status", *options]) == 1
    out = capsys.readouterr().out
    assert f"STALLED at log position {poison}" in out and SECRET not in out


def test_an_event_no_code_can_decode_stops_every_read_model_just_before_it(services, agencies) -> None:
    agencies.submit(police_concern("P-1"))
    before = services.ledger.recorder.max_notification_id()
    services.ledger.recorder.insert_events(
        [StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="tests.no_such_module:Gone", state=b"{}")]
    )
    broken = services.ledger.recorder.max_notification_id()
    with pytest.raises(ReadModelStalled) as raised:
        agencies.submit(police_concern("P-2"))  # stored after it, so it waits behind it
    assert (raised.value.read_model, raised.value.position) == ("integrity", broken)
    for status in services.runner.status():
        assert status.position == before and status.stall.position == broken, status.name
        assert status.stall.error.isidentifier()


def test_status_reports_positions_and_lag_without_catching_up(services, agencies) -> None:
    agencies.submit(police_concern("P-1"))
    services.ledger.submit_many([agencies.envelope(police_concern("P-2"))])  # appended, not caught up
    head, seen = services.ledger.recorder.max_notification_id(), notification_of(services, POLICE, "P-1")
    found = services.runner.status()
    assert [s.name for s in found] == list(services.runner.projections)
    assert all((s.position, s.head, s.lag, s.stall) == (seen, head, head - seen, None) for s in found)
    assert found[0].as_dict() == {"name": "integrity", "position": seen, "head": head, "lag": head - seen, "stall": None}
    services.runner.catch_up()
    assert {s.lag for s in services.runner.status()} == {0}
