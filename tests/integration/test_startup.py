"""Several processes opening one new ledger at the same moment, as `ledger serve --workers N` does.

Table creation must be safe to run concurrently: on PostgreSQL concurrent CREATE OR REPLACE FUNCTION
fails with "tuple concurrently updated" unless the processes take turns.
"""

from __future__ import annotations

import multiprocessing

import pytest

from api.bootstrap import bootstrap
from api.keyfiles import ensure_checkpoint_key
from api.settings import Settings

pytestmark = pytest.mark.slow

SPAWN = multiprocessing.get_context("spawn")


def _open_and_close(settings: Settings, barrier, times: int) -> None:
    barrier.wait(60)
    for _ in range(times):
        bootstrap(settings).close()


def test_processes_starting_together_all_open_the_ledger(database_url, tmp_path):
    settings = Settings(database_url=database_url, checkpoint_key=str(tmp_path / "checkpoint.key"))
    ensure_checkpoint_key(tmp_path / "checkpoint.key")
    barrier = SPAWN.Barrier(4)
    processes = [SPAWN.Process(target=_open_and_close, args=(settings, barrier, 3)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    services = bootstrap(settings)  # and the ledger they made is usable
    try:
        assert services.runner.position("integrity") == 0
    finally:
        services.close()
