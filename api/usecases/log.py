"""The verifiable log for anyone authenticated: the signed checkpoint, the verifier key, inclusion and
consistency proofs (SPEC sections 3 and 4). They reveal hashes and sizes, never record content."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.tokens import Principal
from api.usecases.permissions import authorise
from projections.checkpoints import (
    ConsistencyProof,
    InclusionProof,
    StoredCheckpoint,
    consistency_proof,
    ensure_checkpoint,
    inclusion_proof,
)

if TYPE_CHECKING:
    from api.bootstrap import Services


class Log:
    """Checkpoints and proofs."""

    def __init__(self, services: Services):
        self.services = services

    def checkpoint(self, principal: Principal) -> StoredCheckpoint:
        """The latest signed checkpoint, covering every entry appended before the call (receipts,
        access entries, decisions, links): the read models catch up first, then a checkpoint is
        signed if the latest does not cover the whole tree."""
        authorise(principal.role, "verify_log")

        def catch_up_and_sign() -> StoredCheckpoint:
            self.services.runner.catch_up()
            with self.services.engine.begin() as conn:
                return ensure_checkpoint(conn, self.services.signer)

        return self.services.writes.exclusive(catch_up_and_sign)

    def verifier_key(self, principal: Principal) -> str:
        """The checkpoint verifier key, C2SP vkey format."""
        authorise(principal.role, "verify_log")
        return self.services.signer.vkey

    def inclusion(self, principal: Principal, index: int, size: int) -> InclusionProof:
        """RFC 9162 section 2.1.3: the audit path of leaf ``index`` in the tree of ``size``."""
        authorise(principal.role, "verify_log")
        with self.services.reader.connect() as conn:
            return inclusion_proof(conn, index, size)

    def consistency(self, principal: Principal, size1: int, size2: int) -> ConsistencyProof:
        """RFC 9162 section 2.1.4: the tree of ``size1`` entries is a prefix of the tree of ``size2``."""
        authorise(principal.role, "verify_log")
        with self.services.reader.connect() as conn:
            return consistency_proof(conn, size1, size2)
