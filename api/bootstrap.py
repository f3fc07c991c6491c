"""The composition root: wires the ledger, the read models, their runner and the application layer's
use cases from one Settings.

HTTP, the web view, the CLI and the tests all start here, and nothing is built at import time.
``bootstrap(settings)`` returns the process's ``Services``: the infrastructure it owns, the one write
path (``writes``), and the use cases per user (``agencies``, ``practitioners``, ``pages``, ``inquiry``,
``log``, ``admin``), which alone decide authorisation, append access entries, take the write lock and
catch the read models up. Adapters call those; they never reach the ledger or the tables themselves.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from api.keyfiles import ensure_checkpoint_key
from api.opening import require_ledger
from api.settings import Settings
from api.tokens import create_table as create_token_table
from api.usecases.admin import Admin
from api.usecases.agencies import Agencies
from api.usecases.inquiry import Inquiry
from api.usecases.log import Log
from api.usecases.pages import Pages
from api.usecases.practitioners import Practitioners
from api.usecases.sharing import Sharing
from api.usecases.writes import GroupCommit
from domain.entries import format_time
from domain.errors import LedgerError
from domain.ledger import Accepted, Ledger
from projections.access import AccessProjection
from projections.checkpoints import CheckpointSigner, StoredCheckpoint, ensure_checkpoint, require_consistent_log
from projections.checkpoints import create_table as create_checkpoint_table
from projections.chronology import ChronologyProjection
from projections.db import make_engine, readers
from projections.eventstore import open_ledger
from projections.identity import IdentityProjection
from projections.integrity import IntegrityProjection, leaves_for, predates_stored_entries
from projections.matching import MatchingProjection
from projections.notifications import NotificationsProjection
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
    writes: GroupCommit = field(init=False)
    agencies: Agencies = field(init=False)
    practitioners: Practitioners = field(init=False)
    pages: Pages = field(init=False)
    inquiry: Inquiry = field(init=False)
    log: Log = field(init=False)
    admin: Admin = field(init=False)
    sharing: Sharing = field(init=False)

    def __post_init__(self) -> None:
        if self.reader is None:
            self.reader = readers(self.engine)
        self.writes = GroupCommit(self)
        self.agencies = Agencies(self)
        self.practitioners = Practitioners(self)
        self.pages = Pages(self)
        self.inquiry = Inquiry(self)
        self.log = Log(self)
        self.admin = Admin(self)
        self.sharing = Sharing(self)

    def submit(self, envelopes: Sequence[bytes | str | dict], acting_agency: str | None = None) -> list[dict | LedgerError]:
        """Append envelopes for any registered agency (a bulk load at the command line: the domain
        still checks every signature against the agency's keys) and answer, in order, a receipt or
        the refusal for each, once every accepted record is in the read models."""
        return [r if isinstance(r, LedgerError) else r[0] for r in self.writes.submit(envelopes, acting_agency)]

    def receipts(self, results: Sequence[Accepted | LedgerError]) -> list[tuple[dict, bool] | LedgerError]:
        """Catch the read models up, then answer each ``submit_many`` result with its receipt and
        whether it was a repeat, or its refusal (one catch-up for several submissions: the write
        path in api/usecases/writes.py calls it once a round)."""
        self.runner.catch_up()
        accepted = [str(r.aggregate_id) for r in results if isinstance(r, Accepted)]
        with self.reader.connect() as conn:
            leaves = leaves_for(conn, accepted)
        return [
            r if isinstance(r, LedgerError) else (_receipt(r, leaves[str(r.aggregate_id)]), r.duplicate)
            for r in results
        ]

    def checkpoint(self) -> StoredCheckpoint:
        """The latest signed checkpoint, signing one first if it does not cover the whole integrity
        tree as it stands (callers that must cover entries just appended catch up first, as
        ``log.checkpoint`` does)."""
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


def read_models(signer: CheckpointSigner | None = None) -> list:
    """Every read model, in the order the runner feeds them (integrity first: the others' receipts
    and checkpoints need its leaves); ``signer`` signs checkpoints as integrity catches up."""
    return [IntegrityProjection(signer.after_batch if signer else None), IdentityProjection(), ChronologyProjection(),
            MatchingProjection(), RiskProjection(), AccessProjection(), NotificationsProjection()]  # fmt: skip


def bootstrap(settings: Settings, create: bool = True) -> Services:
    """Open the ledger at ``settings.database_url`` with every read model, creating tables if absent.

    ``create=False`` (read-only commands) creates nothing: the ledger must exist (NoLedger otherwise),
    no table is created, and without a checkpoint key there is no signer.

    The checkpoint key also signs every entry no agency signs (domain/entries); without it the
    ledger appends none. A process that may write (``create``) refuses to start on a log shorter
    than, or not extending, its own latest signed checkpoint (LogInconsistent), or whose checkpoints
    another key signed."""
    if not create:
        require_ledger(settings.database_url)
    engine = make_engine(settings.database_url)  # first: it creates a named PostgreSQL schema
    ledger = open_ledger(settings.database_url)
    key = ensure_checkpoint_key(Path(settings.checkpoint_key), create=create)
    signer = None if key is None else CheckpointSigner(
        settings.origin, key, settings.checkpoint_every, settings.checkpoint_seconds
    )
    if key is not None:
        ledger.sign_entries_with(key)
    runner = ProjectionRunner(ledger, engine, read_models(signer))
    services = Services(settings, ledger, engine, runner, signer=signer)
    if create:
        try:
            upgrade = predates_stored_entries(engine)
            runner.create_tables()
            create_checkpoint_table(engine)
            create_token_table(engine)
            if upgrade:  # once, on the first start of this version: the leaves keep their entry bytes now
                runner.rebuild("integrity", recreate=True)
            with services.reader.connect() as conn:
                require_consistent_log(conn, signer.verifier, ledger)
        except BaseException:
            services.close()
            raise
    return services
