"""Progress bars for the long commands (submit, push, export), on a terminal only.

A person watching a bulk load wants to see it move; a script or a CI log wants nothing but the
command's own output. So the bar is drawn on standard error, and only when standard error is a
terminal: standard output keeps its JSON lines either way. tqdm is imported only when a bar is
drawn, so commands run without a terminal never load it.
"""

from __future__ import annotations

import sys
from typing import Protocol


class Progress(Protocol):
    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


class _Quiet:
    """What a command uses when nobody is watching: counts nothing, prints nothing."""

    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def progress(total: int | None, unit: str, description: str) -> Progress:
    """A bar of ``total`` ``unit`` on standard error when it is a terminal, else a silent stand-in."""
    if not sys.stderr.isatty():
        return _Quiet()
    import os

    from tqdm import tqdm

    try:
        size = os.get_terminal_size(sys.stderr.fileno())
        sized = size.columns > 0 and size.lines > 0
    except (OSError, ValueError, AttributeError):
        sized = False
    # A terminal that reports no size (a fresh pty) gets 80 x 24 (tqdm would draw nothing).
    width = {"dynamic_ncols": True} if sized else {"ncols": 80, "nrows": 24}
    return tqdm(total=total, unit=f" {unit}", desc=description, file=sys.stderr, leave=True, **width)
