"""Inquiries replay the log and see at a glance whether it checks; they and the child's council see
who looked at a child.

Entries carry record content, so only inquiry tokens may fetch them, and each fetch is a lookup on
the record like any read of a child (an access entry, read ``entries``, with the range asked); they
are verified against the checkpoints and proofs any role may ask for (api/usecases/log.py). A
child's access history is itself a read of the child: need to know as for its chronology, and one
access entry (read ``access``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from api.tokens import Principal
from api.usecases.children import Admitted, ChildSelector, Look, read_child, record_lookup
from api.usecases.permissions import authorise
from domain.checkpoint import verify_checkpoint
from domain.errors import LedgerError, MalformedRequest, NotFound, ProofError
from projections.access import child_ids, reads_of
from projections.sharing import sharing_notes
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
        and to the size; default ``min(start + 1000, size)``). One access entry records the fetch,
        with the range as asked (``start``, and ``end`` if given) and its outcome, before it is
        answered; ``end`` before ``start`` is a malformed question and stores nothing."""
        authorise(principal.role, "read_entries")
        if end is not None and end < start:
            raise MalformedRequest("end is before start")
        query = {"start": str(start)} | ({} if end is None else {"end": str(end)})
        with self.services.reader.connect() as conn:
            size = tree_size(conn)
            stop = min(start + DEFAULT_ENTRIES, size) if end is None else min(end, start + MAX_ENTRIES, size)
            found = None if start > size else entries(conn, start, stop)
        record_lookup(self.services, principal, read="entries", query=query,
                      outcome="not_found" if found is None else "allowed")  # fmt: skip
        if found is None:
            raise NotFound(f"the log has {size} entries")
        return [(start + offset, entry) for offset, entry in enumerate(found)]

    def access_history(
        self, principal: Principal, selector: ChildSelector, limit: int, offset: int, break_glass: str | None = None
    ) -> dict:
        """Who looked this child up, when, what and why, with what answer, oldest first, each with its
        leaf index (the read models catch up first, so lookups logged a moment ago are in the
        answer). Need to know as for reading the child, and logged as a read (``access``)."""
        authorise(principal.role, "read_access")
        self.services.writes.exclusive(self.services.runner.catch_up)

        def answer(conn: Connection, seen: Admitted) -> dict:
            ids = child_ids(conn, seen.current)
            found = reads_of(conn, ids, limit=limit, offset=offset)
            return {"child": seen.current.to_dict(), "reads": [read.as_json() for read in found],
                    "sharing_decisions": [note.to_dict() for note in sharing_notes(conn, ids)]}  # fmt: skip

        return read_child(self.services, principal, Look(selector, None, break_glass, "access"), answer)

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
