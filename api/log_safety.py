"""What the server log may say about a request and about a failure, and how.

A log line is read by people and parsed by tools, so what a client sent must not be able to forge
one: ``scope["path"]`` is percent-decoded, and ``/v1/x%0Aforged`` would otherwise start a new line.
Everything taken from a request is therefore escaped to printable ASCII before it is logged.

A failure is logged as one line naming the exception's type (and the types it wraps) and where it
was raised, never its message or arguments: a database error can quote SQL and the record values in
it, and a traceback would show the same through its locals and source lines.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

#: Longest text from a request written to the log; longer text is cut and marked with "...".
MAX_LOGGED = 300

_ROOT = Path(__file__).resolve().parent.parent
_OURS = tuple(f"{_ROOT / package}/" for package in ("api", "domain", "projections"))


def loggable(text: str, limit: int = MAX_LOGGED, *, spaces: bool = False) -> str:
    """``text`` with every character outside printable ASCII, the backslash and (unless ``spaces``)
    the space written as a Python escape (``\\n``, ``\\x20``, ``\\u2028``), so it is one field on one
    line whatever was sent."""
    cut = len(text) > limit
    kept = "".join(
        char if ("!" <= char <= "~" or (spaces and char == " ")) and char != "\\" else _escape(char)
        for char in text[:limit]
    )
    return kept + ("..." if cut else "")


def _escape(char: str) -> str:
    named = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


#: Where a request's unexpected failure waits (in its ASGI scope) for the request's one log line.
FAILURE_KEY = "ledger.failure"


def request_line(scope: dict) -> str:
    """Method and path of an HTTP request, escaped, without the query string."""
    return f"{loggable(str(scope.get('method', '?')), 20)} {loggable(str(scope.get('path', '?')))}"


def note_failure(scope: dict, error: BaseException, unreachable: bool) -> None:
    """Remember that this request failed unexpectedly, for its log line (``request_summary``)."""
    scope[FAILURE_KEY] = f"{'database unavailable' if unreachable else 'unhandled'}: {failure(error)}"


def request_summary(scope: dict, status: int, millis: float) -> tuple[int, str]:
    """The level and text of a request's one log line: method, path, status, milliseconds, and what
    failed if something did (ERROR then, INFO otherwise)."""
    line = f"{request_line(scope)} {status} {millis:.1f}ms"
    failed = scope.get(FAILURE_KEY)
    return (logging.ERROR, f"{line} {failed}") if failed else (logging.INFO, line)


def failure(error: BaseException) -> str:
    """One line about ``error``: its type, the types it wraps, the innermost frame of the ledger's own
    code and the innermost frame overall. No message, no arguments, no source text."""
    chain, current, seen = [], error, set()
    while current is not None and id(current) not in seen and len(chain) < 5:
        seen.add(id(current))
        chain.append(_type_name(current))
        orig = getattr(current, "orig", None)  # SQLAlchemy keeps the driver's error here
        current = orig if isinstance(orig, BaseException) else current.__cause__
    frames = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__), lookup_lines=False)
    ours = [frame for frame in frames if frame.filename.startswith(_OURS)]
    where = f" at {_frame(ours[-1])}" if ours else ""
    if frames and (not ours or frames[-1] is not ours[-1]):
        where += f" (raised in {_frame(frames[-1])})"
    return loggable(" <- ".join(chain), 400, spaces=True) + loggable(where, 400, spaces=True)


def _type_name(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _frame(frame: traceback.FrameSummary) -> str:
    path = frame.filename
    if "site-packages/" in path:
        path = path.rsplit("site-packages/", 1)[1]
    elif path.startswith(str(_ROOT) + "/"):
        path = path[len(str(_ROOT)) + 1 :]
    return f"{path}:{frame.lineno} {frame.name}"
