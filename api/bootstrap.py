"""The composition root: wires the ledger, the read models and their runner from one Settings.

HTTP, the CLI and the tests all start here, and nothing is built at import time.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from api.keyfiles import ensure_checkpoint_key
from api.settings import Settings
from api.tokens import create_table as create_token_table
from domain.entries import format_time
from domain.errors import LedgerError
from domain.ledger import Accepted, Ledger
from projections.access import AccessProjection
from projections.checkpoints import CheckpointSigner, StoredCheckpoint, ensure_checkpoint
from projections.checkpoints import create_table as create_checkpoint_table
from projections.chronology import ChronologyProjection
from projections.db import make_engine, readers
from projections.eventstore import open_ledger
from projections.identity import IdentityProjection
from projections.integrity import IntegrityProjection, leaves_for
from projections.matching import MatchingProjection
from projections.risk import RiskProjection
from projections.runner import ProjectionRunner


@dataclass
class Services:
    """Everything one process needs; keep one per process (it owns the connection pools)."""

    settings: Settings
    ledger: Ledger
    engine: Engine
    runner: ProjectionRunner
    signer: CheckpointSigner | None = None
    reader: Engine | None = None  # the engine for read-only work (projections.db.readers)

    def __post_init__(self) -> None:
        if self.reader is None:
            self.reader = readers(self.engine)

    def submit(self, envelopes: Sequence[bytes | str | dict], acting_agency: str | None = None) -> list[dict | LedgerError]:
        """Append envelopes and answer, in order, a receipt or the refusal for each.

        Answers only once every accepted record is in the read models (read-your-writes).
        """
        return [r if isinstance(r, LedgerError) else r[0] for r in self.submit_with_status(envelopes, acting_agency)]

    def submit_with_status(
        self, envelopes: Sequence[bytes | str | dict], acting_agency: str | None = None
    ) -> list[tuple[dict, bool] | LedgerError]:
        """As ``submit``, pairing each receipt with whether the record was already there (the HTTP
        API answers 200 rather than 201 for those)."""
        return self.receipts(self.ledger.submit_many(envelopes, acting_agency))

    def receipts(self, results: Sequence[Accepted | LedgerError]) -> list[tuple[dict, bool] | LedgerError]:
        """Catch the read models up, then answer each ``submit_many`` result with its receipt and
        whether it was a repeat, or its refusal (one catch-up for several submissions: api/ingest)."""
        self.runner.catch_up()
        accepted = [str(r.aggregate_id) for r in results if isinstance(r, Accepted)]
        with self.reader.connect() as conn:
            leaves = leaves_for(conn, accepted)
        return [
            r if isinstance(r, LedgerError) else (_receipt(r, leaves[str(r.aggregate_id)]), r.duplicate)
            for r in results
        ]

    def checkpoint(self) -> StoredCheckpoint:
        """The latest signed checkpoint, signing one first if it does not cover the whole tree, so it
        covers every entry whose receipt was issued before the call (SPEC section 3)."""
        with self.engine.begin() as conn:
            return ensure_checkpoint(conn, self.signer)

    def close(self) -> None:
        self.ledger.close()
        self.engine.dispose()


def _receipt(accepted: Accepted, leaf) -> dict:
    return {
        "agency": accepted.agency,
        "record_id": accepted.record_id,
        "leaf_index": leaf.leaf_index,
        "leaf_hash": base64.b64encode(leaf.leaf_hash).decode("ascii"),
        "recorded_at": format_time(accepted.recorded_at),
    }


def bootstrap(settings: Settings) -> Services:
    """Open the ledger at ``settings.database_url`` with every read model, creating tables if absent."""
    engine = make_engine(settings.database_url)  # first: it creates a named PostgreSQL schema
    ledger = open_ledger(settings.database_url)
    key = ensure_checkpoint_key(Path(settings.checkpoint_key))
    signer = CheckpointSigner(settings.origin, key, settings.checkpoint_every, settings.checkpoint_seconds)
    runner = ProjectionRunner(
        ledger,
        engine,
        [IntegrityProjection(signer.after_batch), IdentityProjection(), ChronologyProjection(),
         MatchingProjection(), RiskProjection(), AccessProjection()],  # fmt: skip
    )
    runner.create_tables()
    create_checkpoint_table(engine)
    create_token_table(engine)
    return Services(settings, ledger, engine, runner, signer=signer)
