"""``ledger serve`` as a real process on 127.0.0.1, its standard error kept in a file to read.

For tests about what the server itself does over time (an outage and the recovery from it) and
what it writes to its log: the logging configuration, uvicorn and the process are the production
ones, not the test process's. ``preamble`` is Python run in the server process before the CLI,
for a test that must make the store fail in a way it cannot provoke from outside.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.settings import Settings

_RUN_CLI = "import sys\nfrom api.cli import main\nsys.exit(main(sys.argv[1:]))\n"


@dataclass
class ServedProcess:
    """A running ``ledger serve``: where it listens and what it has logged so far."""

    base_url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines_about(self, method: str, path: str, at_least: int = 1) -> list[str]:
        """The log lines of requests to ``path`` (as the server logs it, escaped), once there are
        ``at_least`` of them: a request's line is written just after its answer is sent, so a
        client can read the log before it is there."""
        deadline = time.monotonic() + 60
        while True:
            found = [line for line in self.log().splitlines() if f"{method} {path} " in line]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def ledger_serve(settings: Settings, folder: Path, preamble: str = "") -> Iterator[ServedProcess]:
    """Serve the ledger of ``settings`` from a new process until the block ends; ready when yielded."""
    port = free_port()
    log_path = folder / f"serve-{port}.log"
    command = [sys.executable, "-c", preamble + _RUN_CLI, "serve", "--port", str(port),
               "--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=folder)
    served = ServedProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{served.base_url}/sign-in", timeout=10)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"ledger serve did not start; its output:\n{served.log()}") from None
                time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
