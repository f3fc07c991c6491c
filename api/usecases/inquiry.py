"""Inquiries replay the log, see who looked at a child, and see at a glance whether the log checks.

Entries carry record content, so only inquiry tokens may fetch them; they are verified against the
checkpoints and proofs any role may ask for (api/usecases/log.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.tokens import Principal
from api.usecases.children import ChildSelector
from api.usecases.permissions import authorise
from domain.checkpoint import verify_checkpoint
from domain.errors import LedgerError, MalformedRequest, NotFound, ProofError
from projections.access import child_ids, reads_of
from projections.checkpoints import StoredCheckpoint, entries, latest_checkpoint
from projections.integrity import root_hash, tree_size

if TYPE_CHECKING:
    from api.bootstrap import Services

MAX_ENTRIES = 10_000
DEFAULT_ENTRIES = 1_000


@dataclass(frozen=True)
class LogState:
    """The log as an inquiry sees it at a glance, and whether its latest checkpoint checks."""

    size: int
    checkpoint: StoredCheckpoint | None
    verified: bool
    detail: str


class Inquiry:
    """The inquiry's use cases."""

    def __init__(self, services: Services):
        self.services = services

    def entries(self, principal: Principal, start: int, end: int | None) -> list[tuple[int, bytes]]:
        """Log entries ``[start, end)`` with their indexes, at most 10,000 (``end`` is cut to that
        and to the size; default ``min(start + 1000, size)``)."""
        authorise(principal.role, "read_entries")
        with self.services.reader.connect() as conn:
            size = tree_size(conn)
            stop = min(start + DEFAULT_ENTRIES, size) if end is None else min(end, start + MAX_ENTRIES, size)
            if start > size:
                raise NotFound(f"the log has {size} entries")
            if stop < start:
                raise MalformedRequest("end is before start")
            found = entries(conn, start, stop)
        return [(start + offset, entry) for offset, entry in enumerate(found)]

    def access_history(self, principal: Principal, selector: ChildSelector, limit: int, offset: int) -> dict:
        """Who read this child's records, when, what and why, oldest first, each with its leaf index
        (the read models catch up first, so reads logged a moment ago are in the answer)."""
        authorise(principal.role, "read_access")
        self.services.writes.exclusive(self.services.runner.catch_up)
        with self.services.reader.connect() as conn:
            child = selector.find(conn)
            found = reads_of(conn, child_ids(conn, child), limit=limit, offset=offset)
        return {"child": child.to_dict(), "reads": [read.as_json() for read in found]}

    def log_state(self, principal: Principal) -> LogState:
        """Tree size and latest checkpoint; verified when the checkpoint's signature holds under the
        ledger's key and its root equals the root recomputed from the stored tree at that size."""
        authorise(principal.role, "read_log_state")
        with self.services.reader.connect() as conn:
            size = tree_size(conn)
            checkpoint = latest_checkpoint(conn)
            if checkpoint is None:
                return LogState(size, None, False, "no checkpoint has been signed yet")
            try:
                signed = verify_checkpoint(checkpoint.note, self.services.signer.verifier)
                recomputed = root_hash(conn, signed.size)
            except (ProofError, LedgerError, LookupError) as exc:
                return LogState(size, checkpoint, False, f"the checkpoint does not verify: {exc}")
        if recomputed != signed.root:
            return LogState(size, checkpoint, False, "the checkpoint's root differs from the stored tree's root")
        return LogState(size, checkpoint, True, "signature valid; root matches the stored tree at that size")
