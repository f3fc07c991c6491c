"""One settings object for the HTTP API, the CLI and the tests, read from the environment.

Every setting is documented here with its environment variable; tests/test_settings.py fails when
one is missing from docs/settings.md, so the documentation cannot fall behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from projections.database_url import DEFAULT_URL


@dataclass(frozen=True)
class Settings:
    """Configuration; build it with ``Settings.from_env()`` and override fields in tests."""

    database_url: str = field(
        default=DEFAULT_URL, metadata={"env": "LEDGER_DATABASE_URL", "help": "where the ledger lives"}
    )
    checkpoint_key: str = field(
        default="ledger-checkpoint.key",
        metadata={"env": "LEDGER_CHECKPOINT_KEY", "help": "the ledger's checkpoint signing key (PKCS#8 PEM)"},
    )
    origin: str = field(
        default="safeguarding-ledger.example/log",
        metadata={"env": "LEDGER_ORIGIN", "help": "the log's origin line and checkpoint key name"},
    )
    checkpoint_every: int = field(
        default=1000, metadata={"env": "LEDGER_CHECKPOINT_EVERY", "help": "sign a checkpoint every N entries"}
    )
    checkpoint_seconds: float = field(
        default=60.0,
        metadata={"env": "LEDGER_CHECKPOINT_SECONDS", "help": "or when the newest is older than T seconds"},
    )
    max_envelope_bytes: int = field(
        default=1 << 20, metadata={"env": "LEDGER_MAX_ENVELOPE_BYTES", "help": "largest single envelope body"}
    )
    max_batch_bytes: int = field(
        default=16 << 20, metadata={"env": "LEDGER_MAX_BATCH_BYTES", "help": "largest batch request body"}
    )
    max_batch_envelopes: int = field(
        default=1000, metadata={"env": "LEDGER_MAX_BATCH_ENVELOPES", "help": "most envelopes in one batch"}
    )

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``LEDGER_*`` environment variables, then explicit overrides (None ignored)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = type(f.default)(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
