"""Several processes appending to one database at once, on both backends (real processes, 'spawn').

The record id is derived from ``(agency, record_id)``, so the event store's own uniqueness decides
races: distinct records are all kept, and one record raced by two processes is kept once, with both
answered by the same receipt.
"""

from __future__ import annotations

import json
import multiprocessing
import traceback

import pytest
from sqlalchemy import func, select

from api.bootstrap import bootstrap
from api.settings import Settings
from domain.records import Record
from projections.integrity import leaves
from tests.conftest import concern

pytestmark = pytest.mark.slow

SPAWN = multiprocessing.get_context("spawn")
WAIT = 120  # seconds; generous for a loaded machine, never reached when things work


def _worker(settings: Settings, batches: list[list[bytes]], barrier, answers, race_each_batch: bool) -> None:
    """Open the ledger in this process, wait for the others, submit each batch; report receipts."""
    try:
        services = bootstrap(settings)
        try:
            barrier.wait(WAIT)
            receipts = []
            for batch in batches:
                if race_each_batch:
                    barrier.wait(WAIT)
                receipts.extend(r if isinstance(r, dict) else f"refused: {r!r}" for r in services.submit(batch))
        finally:
            services.close()
        answers.put(("ok", receipts))
    except BaseException:  # report, so the parent fails with the cause instead of timing out
        answers.put(("error", traceback.format_exc()))


def run_processes(settings: Settings, work: list[list[list[bytes]]], race_each_batch: bool = False) -> list[list]:
    """Run one process per entry of ``work`` (its batches) at once; return each one's receipts."""
    barrier, answers = SPAWN.Barrier(len(work)), SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_worker, args=(settings, batches, barrier, answers, race_each_batch)) for batches in work
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [answers.get(timeout=WAIT) for _ in processes]
    finally:
        for process in processes:
            process.join(WAIT)
    errors = [detail for status, detail in outcomes if status == "error"]
    assert not errors, errors[0]
    return [receipts for _, receipts in outcomes]


def records_in_log(services) -> int:
    notifications = services.ledger.recorder.select_notifications(
        start=None, limit=1_000_000, topics=[Record.Recorded.TOPIC]
    )
    return len(notifications)


def test_four_processes_appending_distinct_records_keep_every_one(services, registered, signed, settings):
    per_process, batch_size = 500, 50
    work = []
    for p in range(4):
        envelopes = [json.dumps(signed(concern(f"p{p}-{i}"))).encode() for i in range(per_process)]
        work.append([envelopes[i : i + batch_size] for i in range(0, per_process, batch_size)])

    receipts = [r for process in run_processes(settings, work) for r in process]

    assert all(isinstance(r, dict) for r in receipts), next(r for r in receipts if not isinstance(r, dict))
    assert len({(r["agency"], r["record_id"]) for r in receipts}) == 2000
    assert len({r["leaf_index"] for r in receipts}) == 2000
    assert records_in_log(services) == 2000
    services.runner.catch_up()
    with services.engine.connect() as conn:
        size = conn.execute(select(func.count()).select_from(leaves)).scalar()
        assert conn.execute(select(func.max(leaves.c.leaf_index))).scalar() == size - 1  # dense
    assert size == 2000 + 2  # the agency's registration and key, then every record
    assert {r["leaf_index"] for r in receipts} == set(range(2, size))


def test_two_processes_racing_the_same_records_keep_each_once(services, registered, signed, settings):
    rounds = [[json.dumps(signed(concern(f"race-{i}"))).encode()] for i in range(5)]

    first, second = run_processes(settings, [rounds, rounds], race_each_batch=True)

    assert all(isinstance(r, dict) for r in first + second), first + second
    assert first == second  # each record answered with one receipt, whoever won the race
    assert records_in_log(services) == 5
    assert len({r["leaf_index"] for r in first}) == 5
