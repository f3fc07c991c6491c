"""One settings object for the HTTP API, the CLI and the tests, read from the environment.

Every setting is documented here with its environment variable; tests/unit/test_settings.py fails when
one is missing from docs/settings.md, so the documentation cannot fall behind.

Settings are checked when built, however they are built (``from_env``, the constructor, or
``dataclasses.replace``): a value the ledger cannot run with raises ``SettingsError`` with one line
naming the environment variable and what it must be, so ``ledger`` and ``ledger serve`` refuse to
start with that line rather than fail later with a traceback. The checks are hand-written (a few
lines per kind of value) rather than pydantic-settings, which is not a dependency.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from domain.errors import LedgerError
from projections.database_url import DEFAULT_URL

# Upper bounds a deployment has no reason to exceed; a value beyond one is a typo, not a wish.
MAX_BODY_BYTES = 1 << 30
MAX_BATCH_ENVELOPES = 100_000
MAX_WORKER_TIMEOUT = 3600


class SettingsError(LedgerError):
    """A setting holds a value the ledger cannot run with; the message names its variable."""

    slug = "bad-settings"


def _shown(value: object) -> str:
    """A value as a message quotes it: on one line (repr escapes newlines), and never very long."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(low: int = 1, high: int | None = None) -> Callable[[str, object], int]:
    """A whole number in ``[low, high]``, given as an int or as its decimal text."""
    what = "a positive integer" if low == 1 else f"an integer of at least {low}"

    def check(env: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise SettingsError(f"{env} must be {what}, not {_shown(value)}")
        try:
            number = int(value.strip()) if isinstance(value, str) else value
        except ValueError:
            raise SettingsError(f"{env} must be {what}, not {_shown(value)}") from None
        if number < low:
            raise SettingsError(f"{env} must be {what}, not {_shown(value)}")
        if high is not None and number > high:
            raise SettingsError(f"{env} must be at most {high}, not {_shown(value)}")
        return number

    check.low, check.high = low, high  # type: ignore[attr-defined]  # docs/settings.md states them; a test compares
    return check


def seconds(env: str, value: object) -> float:
    """A positive, finite number of seconds, given as a number or as its text."""
    message = f"{env} must be a positive number of seconds, not {_shown(value)}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SettingsError(message)
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(message) from None
    if not (math.isfinite(number) and number > 0):
        raise SettingsError(message)
    return number


def name(env: str, value: object) -> str:
    """A signed-note key name and checkpoint origin line: non-empty, printable, no spaces and no
    '+' (C2SP signed-note), so it cannot break the line structure of a checkpoint."""
    if not (isinstance(value, str) and value) or not value.isprintable() or any(c.isspace() or c == "+" for c in value):
        what = "non-empty text without spaces, control characters or '+'"
        raise SettingsError(f"{env} must be {what}, not {_shown(value)}")
    return value


def location(env: str, value: object) -> str:
    """A database URL or file path: non-empty and on one line. Not quoted back: a URL may hold a password."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise SettingsError(f"{env} must be a non-empty value on one line without control characters")
    return value


@dataclass(frozen=True)
class Settings:
    """Configuration; build it with ``Settings.from_env()`` and override fields in tests."""

    database_url: str = field(
        default=DEFAULT_URL,
        metadata={"env": "LEDGER_DATABASE_URL", "help": "where the ledger lives", "check": location},
    )
    checkpoint_key: str = field(
        default="ledger-checkpoint.key",
        metadata={
            "env": "LEDGER_CHECKPOINT_KEY",
            "help": "the ledger's checkpoint signing key (PKCS#8 PEM)",
            "check": location,
        },
    )
    origin: str = field(
        default="safeguarding-ledger.example/log",
        metadata={"env": "LEDGER_ORIGIN", "help": "the log's origin line and checkpoint key name", "check": name},
    )
    checkpoint_every: int = field(
        default=1000,
        metadata={"env": "LEDGER_CHECKPOINT_EVERY", "help": "sign a checkpoint every N entries", "check": integer()},
    )
    checkpoint_seconds: float = field(
        default=60.0,
        metadata={
            "env": "LEDGER_CHECKPOINT_SECONDS",
            "help": "or when the newest is older than T seconds",
            "check": seconds,
        },
    )
    max_envelope_bytes: int = field(
        default=1 << 20,
        metadata={
            "env": "LEDGER_MAX_ENVELOPE_BYTES",
            "help": "largest single envelope body",
            "check": integer(high=MAX_BODY_BYTES),
        },
    )
    max_batch_bytes: int = field(
        default=16 << 20,
        metadata={
            "env": "LEDGER_MAX_BATCH_BYTES",
            "help": "largest batch request body",
            "check": integer(high=MAX_BODY_BYTES),
        },
    )
    max_batch_envelopes: int = field(
        default=1000,
        metadata={
            "env": "LEDGER_MAX_BATCH_ENVELOPES",
            "help": "most envelopes in one batch",
            "check": integer(high=MAX_BATCH_ENVELOPES),
        },
    )
    worker_timeout: int = field(
        default=60,
        metadata={
            "env": "LEDGER_WORKER_TIMEOUT",
            "help": "seconds `ledger serve` waits for a worker process to answer a health check",
            "check": integer(high=MAX_WORKER_TIMEOUT),
        },
    )

    def __post_init__(self) -> None:
        """Check every field, turning text (from the environment) into its type; SettingsError names
        the first bad one."""
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(f.metadata["env"], getattr(self, f.name)))

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``LEDGER_*`` environment variables, then explicit overrides (None ignored)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
