"""Inquiries replay the log and see at a glance whether it checks; they and the child's council see
who looked at a child.

Entries carry record content, so only inquiry tokens may fetch them, and each fetch is a lookup on
the record like any read of a child (an access entry, read ``entries``, with the range asked); they
are verified against the checkpoints and proofs any role may ask for (api/usecases/log.py). A
child's access history is itself a read of the child: need to know as for its chronology, and one
access entry (read ``access``).

One child's evidence bundle (domain/child_bundle.py) is for inquiries alone, like the entries it
holds; producing it is a lookup of the child (read ``export``, with the child and any ``as_of``),
appended before the bundle is made, so a bundle without ``as_of`` carries its own access entry.
It is proved against one checkpoint of the whole tree, signed for it when the latest covers less.
The command line produces bundles as an inquiry (``COMMAND_LINE_INQUIRY``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from api.tokens import Principal
from api.usecases.children import Admitted, ChildSelector, Look, read_child, record_lookup
from api.usecases.permissions import authorise
from domain.checkpoint import parse_checkpoint, verify_checkpoint
from domain.child_bundle import ChildBundle, manifest
from domain.entries import decode_entry, format_time
from domain.errors import LedgerError, MalformedRequest, NotFound, ProofError, Unavailable
from projections.access import child_ids, reads_of
from projections.checkpoints import StoredCheckpoint, ensure_checkpoint, entries, latest_checkpoint
from projections.child_entries import bundle_leaves, child_leaves, key_history_leaves
from projections.integrity import root_hash, tree_size
from projections.sharing import sharing_notes

if TYPE_CHECKING:
    from api.bootstrap import Services

MAX_ENTRIES = 10_000
DEFAULT_ENTRIES = 1_000
#: Who produces a bundle at the command line: an inquiry (holder ``cli``), as its access entry says.
COMMAND_LINE_INQUIRY = Principal(token_id="cli", role="inquiry", holder="cli")
_CHILD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def selector_of(identifier: str) -> ChildSelector:
    """The child an inquiry names at the command line: a 10-digit NHS number, a child id the ledger
    gave, or else a UPN."""
    text = identifier.strip()
    if text.isascii() and text.isdigit() and len(text) == 10:
        return ChildSelector(nhs_number=text)
    if _CHILD_ID.fullmatch(text):
        return ChildSelector(child=text)
    return ChildSelector(upn=text.upper())


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
        answered; ``end`` at or before ``start`` is the empty range (as ``[start, end)`` says), so
        every request the OpenAPI document allows has an answer."""
        authorise(principal.role, "read_entries")
        query = {"start": str(start)} | ({} if end is None else {"end": str(end)})
        with self.services.reader.connect() as conn:
            size = tree_size(conn)
            stop = min(start + DEFAULT_ENTRIES, size) if end is None else min(end, start + MAX_ENTRIES, size)
            found = None if start > size else entries(conn, start, stop) if stop > start else []
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

    def child_bundle(self, principal: Principal, selector: ChildSelector, as_of: datetime | None = None) -> ChildBundle:
        """One child's evidence bundle (module doc): the access entry first, then a checkpoint of the
        whole tree, then the child's leaves as known at ``as_of`` with the key history that checks
        them, each proved in that checkpoint. NotFound (logged as such) for a child nobody named."""
        authorise(principal.role, "read_entries")
        services = self.services
        if services.signer is None:
            raise Unavailable("this process holds no checkpoint key, so it can sign no checkpoint")
        seen = read_child(services, principal, Look(selector, as_of, None, "export"), lambda conn, seen: seen,
                          catch_up=True)  # fmt: skip

        def sign() -> StoredCheckpoint:
            services.runner.catch_up()
            with services.engine.begin() as conn:
                return ensure_checkpoint(conn, services.signer)

        latest = services.writes.exclusive(sign)
        checkpoint = parse_checkpoint(latest.note.split("\n\n", 1)[0] + "\n")
        child = seen.shown
        with services.reader.connect() as conn:
            if child is None:  # not yet known at as_of: nothing about it was recorded by then
                own, ids = [], [seen.current.id]
                named = seen.current
            else:
                own, ids, named = child_leaves(conn, child, as_of, latest.size), child_ids(conn, child), child
            found = bundle_leaves(conn, own, latest.size)
            agencies = {data["agency"] for leaf in found if (data := decode_entry(leaf.entry))["kind"] == "record"}
            keys = key_history_leaves(conn, agencies, services.settings.origin, latest.size)
            found = sorted([*found, *bundle_leaves(conn, set(keys) - set(own), latest.size)], key=lambda leaf: leaf.index)
        described = {"id": named.id, "ids": ids, "identifiers": [] if child is None else named.identifiers}
        shown_as_of = None if as_of is None else format_time(as_of)
        return ChildBundle(manifest(services.settings.origin, described, shown_as_of, checkpoint, found, keys),
                           found, latest.note, services.signer.vkey)  # fmt: skip
