"""Group commit: the process's writes to the log, one at a time, concurrent submissions merged.

Two reasons to funnel every write of the process through here. Throughput: a submission costs one
transaction plus one projection catch-up whatever its size, so envelopes that arrive while a write
is under way are appended together in the next one (the classic group commit: the thread that gets
the write lock takes everything queued and answers for all of them). Safety on SQLite: the event
store's connection pool lets one writer in at a time and makes readers wait for it, while a
catch-up holds the database's write lock as it reads the log; a write and a catch-up racing in one
process can each wait for the other until a timeout. Taking one lock around both rules that out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from domain.errors import LedgerError

if TYPE_CHECKING:
    from api.bootstrap import Services

T = TypeVar("T")
Outcome = tuple[dict, bool] | LedgerError

#: Envelopes merged into one round at most (a single batch request may still exceed it alone).
MAX_ROUND = 2000

#: Under load, how long a round waits for more envelopes before it starts: a round's fixed cost (a
#: transaction and a catch-up of every read model) is shared by more of them (cf. PostgreSQL's
#: ``commit_delay``). A lone request, arriving after a round of one, does not wait.
GATHER_SECONDS = 0.005


@dataclass(eq=False)
class _Job:
    """One request's envelopes, waiting to be appended by whichever thread runs the next round."""

    envelopes: Sequence[bytes | str | dict]
    acting_agency: str | None
    outcomes: list[Outcome] | None = None
    error: Exception | None = None
    done: bool = False


class GroupCommit:
    """Serialises this process's writes and merges concurrent submissions into shared rounds."""

    def __init__(self, services: Services, max_round: int = MAX_ROUND):
        self.services = services
        self.max_round = max_round
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Job] = []
        self._last_round_jobs = 0

    def submit(self, envelopes: Sequence[bytes | str | dict], acting_agency: str | None) -> list[Outcome]:
        """Append envelopes (for ``acting_agency`` only, when given), sharing a round with whatever else
        is waiting: a receipt with whether it was already held, or the refusal, for each in order."""
        job = _Job(envelopes, acting_agency)
        with self._queue_lock:
            self._queue.append(job)
        while True:
            with self._write_lock:
                if not job.done:
                    if self._last_round_jobs > 1:
                        time.sleep(GATHER_SECONDS)
                    self._run_round()
            if job.done:
                break
        if job.error is not None:
            raise job.error
        assert job.outcomes is not None
        return job.outcomes

    def exclusive(self, write: Callable[[], T]) -> T:
        """Run any other write (a command, an access entry, a catch-up) with no round under way."""
        with self._write_lock:
            return write()

    def _run_round(self) -> None:
        """Take queued jobs up to the round size, append them (one transaction per acting agency) and
        catch the read models up once for all of them."""
        with self._queue_lock:
            taken, size = [], 0
            while self._queue and (not taken or size + len(self._queue[0].envelopes) <= self.max_round):
                job = self._queue.pop(0)
                taken.append(job)
                size += len(job.envelopes)
        self._last_round_jobs = len(taken)
        by_agency: dict[str | None, list[_Job]] = {}
        for job in taken:
            by_agency.setdefault(job.acting_agency, []).append(job)
        try:
            results = []
            for agency, jobs in by_agency.items():
                results.extend(self.services.ledger.submit_many([e for job in jobs for e in job.envelopes], agency))
            outcomes = self.services.receipts(results)
        except Exception as exc:  # every request of the round hears of it, in its own thread
            for job in taken:
                job.error, job.done = exc, True
            return
        start = 0
        for job in (job for jobs in by_agency.values() for job in jobs):
            job.outcomes = outcomes[start : start + len(job.envelopes)]
            job.done = True
            start += len(job.envelopes)
