"""The verifiable log for anyone authenticated: the signed checkpoint (with the witnesses'
cosignatures), the verifier key and its rotations, inclusion and consistency proofs, receipt
bundles, and the cosignatures witnesses send (SPEC sections 3 and 4). They reveal hashes and sizes,
never record content. Administrators register witnesses and rotate the checkpoint key.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from api.tokens import Principal
from api.usecases.checkpoint_timer import CheckpointTimer
from api.usecases.permissions import authorise
from domain.checkpoint import parse_checkpoint, split_note
from domain.checkpoint_keys import CheckpointKeys, keys_aggregate_id, rotation_statement
from domain.entries import decode_entry
from domain.errors import LedgerError, MalformedRequest, NotFound, ProofError, SignatureRejected, Unavailable
from domain.receipts import BUNDLE_FORMAT, tlog_proof
from projections import witnesses
from projections.checkpoints import (
    ConsistencyProof,
    InclusionProof,
    StoredCheckpoint,
    checkpoint_for_receipts,
    checkpoint_of_size,
    consistency_proof,
    ensure_checkpoint,
    entries,
    inclusion_proof,
    key_in_force,
    latest_checkpoint,
    served_note,
    sign_if_due,
    stored_rotations,
)

if TYPE_CHECKING:
    from api.bootstrap import Services


class Log:
    """Checkpoints, proofs, receipts, cosignatures; the checkpoint timer of a serving process."""

    def __init__(self, services: Services):
        self.services = services
        self.timer: CheckpointTimer | None = None
        if services.signer is not None:
            origin = services.settings.origin
            services.signer.bind_key_history(lambda: key_in_force(services.ledger, origin))

    # Checkpoints ---------------------------------------------------------------------------------

    def checkpoint(self, principal: Principal) -> StoredCheckpoint:
        """The latest signed checkpoint with its witnesses' cosignatures. It covers every entry a
        receipt was issued for before the call (the read models catch up first, then a checkpoint
        is signed if a record is not yet covered); other entries may wait for the steady rate."""
        authorise(principal.role, "verify_log")
        latest = self._checkpoint_for_receipts()
        with self.services.reader.connect() as conn:
            return replace(latest, note=served_note(conn, latest))

    def _checkpoint_for_receipts(self) -> StoredCheckpoint:
        signer = self._signer()

        def catch_up_and_sign() -> StoredCheckpoint:
            self.services.runner.catch_up()
            with self.services.engine.begin() as conn:
                return checkpoint_for_receipts(conn, signer, self.services.ledger)

        return self.services.writes.exclusive(catch_up_and_sign)

    def sign_if_due(self) -> StoredCheckpoint | None:
        """The timer's step: catch up (entries other processes appended too), then sign if the
        steady-rate policy says so."""
        signer = self._signer()

        def catch_up_and_sign() -> StoredCheckpoint | None:
            self.services.runner.catch_up()
            with self.services.engine.begin() as conn:
                return sign_if_due(conn, signer)

        return self.services.writes.exclusive(catch_up_and_sign)

    def start_timer(self) -> None:
        """Sign at the steady rate without requests, in a background thread, until ``stop_timer``."""
        if self.services.signer is None or self.timer is not None:
            return
        self.timer = CheckpointTimer(self.sign_if_due, self.services.settings.checkpoint_seconds)
        self.timer.start()

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def verifier_key(self, principal: Principal) -> str:
        """The checkpoint verifier key in force, C2SP vkey format."""
        authorise(principal.role, "verify_log")
        return self._signer().vkey

    def key_history(self, principal: Principal) -> list[dict]:
        """Every rotation of the checkpoint key, oldest first: leaf index, old and new vkey and the
        statement both signed (domain/checkpoint_keys), so a holder of an older key can follow."""
        authorise(principal.role, "verify_log")
        rotations = stored_rotations(self.services.ledger, self.services.reader)
        return [{"index": r.index, "old_vkey": r.old_vkey, "new_vkey": r.new_vkey, "statement": r.statement}
                for r in rotations]  # fmt: skip

    # Proofs and receipts -------------------------------------------------------------------------

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

    def receipt(self, principal: Principal, leaf_index: int) -> dict:
        """A receipt bundle that stands alone (docs/api.md): the receipt of the record at
        ``leaf_index``, its entry bytes, its inclusion proof and the signed checkpoint (with
        cosignatures) it is proved against, as a C2SP tlog-proof, and the vkey. An agency gets
        its own records' bundles only; any other leaf is 404, as if it did not exist."""
        authorise(principal.role, "read_receipt")
        latest = self._checkpoint_for_receipts()
        with self.services.reader.connect() as conn:
            if not 0 <= leaf_index < latest.size:
                raise NotFound(f"no record at leaf {leaf_index}")
            (entry,) = entries(conn, leaf_index, leaf_index + 1)
            data = decode_entry(entry)
            if data.get("kind") != "record" or (principal.role == "agency" and data.get("agency") != principal.agency):
                raise NotFound(f"no record at leaf {leaf_index}")
            proof = inclusion_proof(conn, leaf_index, latest.size)
            note = served_note(conn, latest)
        b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
        receipt = {"agency": data["agency"], "record_id": data["record_id"], "leaf_index": leaf_index,
                   "leaf_hash": b64(proof.leaf_hash), "recorded_at": data["at"]}  # fmt: skip
        return {"format": BUNDLE_FORMAT, "version": 1, "receipt": receipt, "entry": b64(entry),
                "vkey": self._signer().vkey, "proof": tlog_proof(leaf_index, proof.proof, note)}  # fmt: skip

    # Witnesses -----------------------------------------------------------------------------------

    def add_cosignatures(self, principal: Principal, cosigned_note: str) -> dict:
        """Keep the cosignatures of registered witnesses in ``cosigned_note``: a checkpoint this
        ledger signed with signature lines appended. The signature is the authentication: a line
        counts only when it verifies with a registered witness's key over that checkpoint."""
        authorise(principal.role, "verify_log")
        try:
            text, _ = split_note(cosigned_note)
            size = parse_checkpoint(text).size
        except ProofError as error:
            raise MalformedRequest(f"the body is not a cosigned checkpoint: {error}") from None

        def keep() -> list:
            with self.services.engine.begin() as conn:
                stored = checkpoint_of_size(conn, size)
                if stored is None or split_note(stored.note)[0] != text:
                    raise NotFound(f"this ledger signed no such checkpoint of size {size}")
                try:
                    return witnesses.keep_cosignatures(conn, size, cosigned_note)
                except ProofError as error:
                    raise SignatureRejected(str(error)) from None

        kept = self.services.writes.exclusive(keep)
        if not kept:
            raise SignatureRejected("the checkpoint carries no cosignature by a registered witness")
        return {"size": size, "witnesses": sorted(c.witness for c in kept)}

    def add_witness(self, principal: Principal, vkey_text: str) -> witnesses.Witness:
        """Register a witness by its cosigner vkey (C2SP type 0x04)."""
        authorise(principal.role, "administer")
        try:
            with self.services.engine.begin() as conn:
                return witnesses.add_witness(conn, vkey_text, principal.holder or principal.token_id)
        except ProofError as error:
            raise MalformedRequest(f"not a witness vkey: {error}") from None

    def remove_witness(self, principal: Principal, name: str) -> None:
        authorise(principal.role, "administer")
        with self.services.engine.begin() as conn:
            if not witnesses.remove_witness(conn, name):
                raise NotFound("no witness of that name is registered")

    def list_witnesses(self, principal: Principal) -> list[witnesses.Witness]:
        authorise(principal.role, "verify_log")
        with self.services.reader.connect() as conn:
            return witnesses.list_witnesses(conn)

    # Key rotation --------------------------------------------------------------------------------

    def rotate_key(self, principal: Principal, new_key: Ed25519PrivateKey) -> str:
        """Hand the checkpoint key over to ``new_key``: a ``checkpoint_key_rotated`` entry whose
        statement the old and new keys both sign, then a checkpoint covering it signed by the new
        key. Other processes still holding the old key sign nothing more. Returns the new vkey."""
        authorise(principal.role, "administer")
        signer, ledger = self._signer(), self.services.ledger
        origin = self.services.settings.origin

        def rotate() -> str:
            self.services.runner.catch_up()
            with self.services.engine.begin() as conn:
                signer.require_own_log(latest_checkpoint(conn))
            old_vkey, new_vkey, statement = rotation_statement(origin, signer.private_key, new_key)
            try:
                keys = ledger.repository.get(keys_aggregate_id(origin))
                keys.rotate(old_vkey, new_vkey, statement)
            except AggregateNotFoundError:
                keys = CheckpointKeys(origin=origin, old_vkey=old_vkey, new_vkey=new_vkey, statement=statement)
            try:
                ledger.save(keys)
            except IntegrityError:
                raise LedgerError("another rotation of the checkpoint key happened meanwhile; nothing changed") from None
            signer.rotate_to(new_key)
            self.services.runner.catch_up()
            with self.services.engine.begin() as conn:
                ensure_checkpoint(conn, signer)
            return new_vkey

        return self.services.writes.exclusive(rotate)

    def _signer(self):
        if self.services.signer is None:
            raise Unavailable("this process holds no checkpoint key, so it can sign no checkpoint")
        return self.services.signer
