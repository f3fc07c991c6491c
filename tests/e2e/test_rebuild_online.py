"""``ledger rebuild`` while a server serves: no submission and no read fails, and none is lost.

A rebuild used to drop its tables, so requests arriving meanwhile failed with "no such table". Now
each read model is rebuilt in one transaction that deletes and rewrites its rows. To be sure the
requests really meet a rebuild in progress, the first one here is paused inside its transaction
(after writing the new rows, before committing): readers must still see the old rows, and the
submissions that arrive wait for it. Then the real ``ledger rebuild`` of every read model runs in
its own process while the remaining submissions go on. Each submission is read back at once.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from projections.chronology import entries
from tests.api_live import Live, fresh_nhs_number, served_ledger
from tests.conftest import BACKENDS, concern

HISTORY, SUBMISSIONS = 200, 60

# `ledger rebuild chronology`, stopping once inside its transaction until told to go on.
PAUSED_REBUILD = textwrap.dedent(
    """
    import sys
    from api.cli import main
    from projections.chronology import ChronologyProjection

    apply, paused = ChronologyProjection.apply, []

    def pausing_apply(self, conn, items):
        apply(self, conn, items)
        if not paused:
            paused.append(True)
            print("paused", flush=True)
            sys.stdin.readline()

    ChronologyProjection.apply = pausing_apply
    sys.exit(main(["rebuild", "chronology", "--database-url", sys.argv[1], "--checkpoint-key", sys.argv[2]]))
    """
)


def chronology_rows(live: Live) -> int:
    with live.services.reader.connect() as conn:
        return conn.execute(select(func.count()).select_from(entries)).scalar_one()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rebuild_while_serving_fails_no_submission_and_no_read(backend, tmp_path) -> None:
    with served_ledger(backend, tmp_path) as (services, base_url):
        live = Live(base_url, services)
        agency = live.agency()
        agency_token, inquiry_token = live.token("agency", agency=agency), live.token("inquiry")
        earlier = [live.envelope(concern(f"B-{i}", agency=agency, subject={"nhs_number": fresh_nhs_number()}))
                   for i in range(HISTORY)]  # fmt: skip
        services.submit(earlier, agency)
        url, key = services.settings.database_url, services.settings.checkpoint_key
        results: list[tuple] = []
        sending = threading.Event()

        def submit_and_read() -> None:
            with live.client(agency_token) as writer, live.client(inquiry_token) as reader:
                for i in range(SUBMISSIONS):
                    nhs = fresh_nhs_number()
                    envelope = live.envelope(concern(f"D-{i}", agency=agency, subject={"nhs_number": nhs}))
                    sending.set()
                    posted = writer.post("/v1/records", json=envelope)
                    read = reader.get("/v1/chronology", params={"nhs_number": nhs})
                    shown = [e["record_id"] for e in read.json().get("entries", [])] if read.status_code == 200 else []
                    results.append((posted.status_code, read.status_code, shown == [f"D-{i}"]))

        paused = subprocess.Popen([sys.executable, "-c", PAUSED_REBUILD, url, key], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        thread = threading.Thread(target=submit_and_read, daemon=True)
        try:
            assert paused.stdout.readline() == "paused\n", paused.stderr.read()
            assert chronology_rows(live) == HISTORY, "readers see the old rows while the rebuild is under way"
            thread.start()
            assert sending.wait(60)
            paused.stdin.write("go on\n")
            paused.stdin.flush()
            everything = subprocess.run([Path(sys.executable).with_name("ledger"), "rebuild", "--database-url", url,
                                         "--checkpoint-key", key], capture_output=True, text=True, timeout=300)  # fmt: skip
            thread.join(timeout=300)
            out, err = paused.communicate(timeout=120)
        finally:
            if paused.poll() is None:
                paused.kill()
                paused.communicate()
        assert not thread.is_alive(), "the submissions did not finish"
        assert paused.returncode == 0 and out.startswith("rebuilt chronology up to log position "), err
        assert everything.returncode == 0, everything.stderr
        assert len(everything.stdout.splitlines()) == len(services.runner.projections)
        assert results == [(201, 200, True)] * SUBMISSIONS
        services.runner.catch_up()
        assert chronology_rows(live) == HISTORY + SUBMISSIONS
