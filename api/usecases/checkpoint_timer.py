"""The steady rate: a background thread that signs checkpoints without waiting for requests.

Each serving process runs one (started and stopped by the app's lifespan, api/app.py). It wakes
every half ``LEDGER_CHECKPOINT_SECONDS`` (at most every 30 s), catches the read models up and signs
a checkpoint when the policy (projections/checkpoints ``CheckpointSigner.is_due``) says one is due:
so an entry is covered at most about 1.5 times that setting after it was appended, whether or not
anybody asks. A failing step (the database unreachable) is logged by type only and tried again at
the next tick; stopping waits for a step under way to end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("ledger.checkpoints")

#: Bounds of the wake-up interval, seconds.
MIN_INTERVAL, MAX_INTERVAL = 0.05, 30.0


class CheckpointTimer:
    """Calls ``step`` every ``interval(seconds)`` in a daemon thread until ``stop``."""

    def __init__(self, step: Callable[[], object], seconds: float) -> None:
        self.step = step
        self.interval = min(max(seconds / 2, MIN_INTERVAL), MAX_INTERVAL)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint-timer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.step()
            except Exception as error:  # noqa: BLE001 - the thread must outlive a failing tick
                logger.warning("checkpoint timer: the step failed (%s); trying again", type(error).__name__)
