"""The witness's trust in the log's key, without a server: the key is pinned at first use, a changed
key is refused, and a rotation signed by the pinned key is followed (api/cli_witness)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.cli_witness import Witness, WitnessState
from domain import merkle
from domain.checkpoint import Checkpoint, sign_checkpoint, vkey
from domain.checkpoint_keys import rotation_statement
from domain.errors import LedgerError

ORIGIN = "ledger.example/log"
OLD, NEW, THIEF = (Ed25519PrivateKey.generate() for _ in range(3))
ROOT = merkle.leaf_hash(b"entry 0")


class FakeLedger:
    """Answers the witness's calls from fixed values; records what it was handed."""

    def __init__(self, key: Ed25519PrivateKey, rotations: list[dict]) -> None:
        self.note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), ORIGIN, key)
        self.key, self.rotations, self.posted = vkey(ORIGIN, key.public_key()), rotations, []

    def get_text(self, path: str, **_: object) -> str:
        return {"/v1/log/key": self.key + "\n", "/v1/log/checkpoint": self.note}[path]

    def get_json(self, path: str, **_: object):
        assert path == "/v1/log/keys"
        return self.rotations

    def post_text(self, path: str, text: str) -> dict:
        self.posted.append(text)
        return {}


def witness(ledger: FakeLedger, tmp_path) -> Witness:
    return Witness(ledger, tmp_path / "state", "w1", Ed25519PrivateKey.generate(), None)  # type: ignore[arg-type]


def test_first_use_pins_the_key_and_a_changed_key_is_refused(tmp_path) -> None:
    assert "cosigned" in witness(FakeLedger(OLD, []), tmp_path).round()
    assert WitnessState.load(tmp_path / "state").log_vkey == vkey(ORIGIN, OLD.public_key())
    with pytest.raises(LedgerError, match="without a rotation signed by the pinned key"):
        witness(FakeLedger(THIEF, []), tmp_path).round()


def test_a_rotation_signed_by_the_pinned_key_is_followed_and_a_forged_one_is_not(tmp_path) -> None:
    witness(FakeLedger(OLD, []), tmp_path).round()
    forged_old, forged_new, forged = rotation_statement(ORIGIN, THIEF, NEW)
    claimed = {"index": 0, "old_vkey": vkey(ORIGIN, OLD.public_key()), "new_vkey": forged_new, "statement": forged}
    with pytest.raises(LedgerError, match="refusing it"):
        witness(FakeLedger(NEW, [claimed]), tmp_path).round()
    old_vkey, new_vkey, statement = rotation_statement(ORIGIN, OLD, NEW)
    rotated = FakeLedger(NEW, [{"index": 0, "old_vkey": old_vkey, "new_vkey": new_vkey, "statement": statement}])
    assert "handed in again" in witness(rotated, tmp_path).round(), "the same tree, now signed by the new key"
    assert len(rotated.posted) == 1 and rotated.note in rotated.posted[0]
    assert WitnessState.load(tmp_path / "state").log_vkey == new_vkey, "the new key is pinned from now on"
