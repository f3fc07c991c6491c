"""C2SP tlog-cosignature (Ed25519 cosignature/v1) and the checkpoint key history, in the domain:
the signed message and key ID rebuilt here from the spec's text, refusals, quorums, rotations."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.checkpoint import Checkpoint, format_checkpoint, parse_vkey, sign_checkpoint, vkey
from domain.checkpoint_keys import Rotation, follow, rotation_statement
from domain.cosignature import (
    cosign,
    cosignatures,
    cosigner_vkey,
    parse_cosigner_vkey,
    require_quorum,
    witness_quorum,
    with_cosignatures,
)
from domain.errors import IntegrityFailure, ProofError

LOG = "ledger.example/log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
W1 = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
W2 = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
CHECKPOINT = Checkpoint(LOG, 20852163, bytes(range(32)))
NOTE = sign_checkpoint(CHECKPOINT, LOG, LOG_KEY)
TEXT = format_checkpoint(CHECKPOINT)


def test_the_cosignature_is_what_the_spec_says_it_signs() -> None:
    line = cosign(TEXT, "witness.example/w1", W1, 1679315147)
    assert line.startswith("\u2014 witness.example/w1 ") and line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    raw = W1.public_key().public_bytes_raw()
    assert blob[:4] == hashlib.sha256(b"witness.example/w1\n\x04" + raw).digest()[:4]
    assert struct.unpack(">Q", blob[4:12]) == (1679315147,)
    message = b"cosignature/v1\ntime 1679315147\n" + TEXT.encode()
    W1.public_key().verify(blob[12:], message)  # raises if the message were any other
    assert len(blob) == 4 + 8 + 64


def test_cosigner_vkeys_use_type_4_and_round_trip() -> None:
    text = cosigner_vkey("witness.example/w1", W1.public_key())
    name, key_id, material = text.split("+", 2)
    assert name == "witness.example/w1" and base64.b64decode(material)[0] == 4
    assert parse_cosigner_vkey(text).key_hash.hex() == key_id
    with pytest.raises(ProofError):
        parse_cosigner_vkey(vkey("witness.example/w1", W1.public_key()))  # a note key (type 1), not a cosigner
    with pytest.raises(ProofError):
        parse_cosigner_vkey(text.replace(key_id, "00000000"))


def test_a_cosigned_note_verifies_for_the_log_and_the_witness() -> None:
    w1 = parse_cosigner_vkey(cosigner_vkey("w1", W1.public_key()))
    note = with_cosignatures(NOTE, [cosign(TEXT, "w1", W1, 1700000000)])
    assert [(c.witness, c.timestamp) for c in cosignatures(note, [w1])] == [("w1", 1700000000)]
    from domain.checkpoint import verify_checkpoint

    assert verify_checkpoint(note, parse_vkey(vkey(LOG, LOG_KEY.public_key()))) == CHECKPOINT
    assert with_cosignatures(note, [cosign(TEXT, "w1", W1, 1700000000)]) == note, "a line is added once"


def test_a_cosignature_over_another_checkpoint_or_time_is_refused() -> None:
    w1 = parse_cosigner_vkey(cosigner_vkey("w1", W1.public_key()))
    other = format_checkpoint(Checkpoint(LOG, CHECKPOINT.size + 1, CHECKPOINT.root))
    with pytest.raises(ProofError, match="does not verify"):
        cosignatures(with_cosignatures(NOTE, [cosign(other, "w1", W1, 1700000000)]), [w1])
    line = cosign(TEXT, "w1", W1, 1700000000)
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[11] ^= 1  # another timestamp than the one signed
    forged = f"\u2014 w1 {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(ProofError):
        cosignatures(NOTE + forged, [w1])


def test_unknown_witnesses_are_ignored_and_quorums_counted() -> None:
    w1 = parse_cosigner_vkey(cosigner_vkey("w1", W1.public_key()))
    w2 = parse_cosigner_vkey(cosigner_vkey("w2", W2.public_key()))
    stranger = cosign(TEXT, "w3", Ed25519PrivateKey.generate(), 1700000000)
    note = with_cosignatures(NOTE, [stranger, cosign(TEXT, "w1", W1, 1700000000)])
    assert [c.witness for c in require_quorum(note, {"a": w1, "b": w2}, 1)] == ["w1"]
    with pytest.raises(ProofError, match="1 of the 2"):
        require_quorum(note, {"a": w1, "b": w2}, 2)
    options = [f"a={w1.vkey}", f"b={w2.vkey}"]
    assert "size 20852163 is cosigned by 1 of 2" in witness_quorum(options, 1, [(CHECKPOINT.size, note)])
    with pytest.raises(ProofError):
        witness_quorum(options, None, [(CHECKPOINT.size, note)])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 2**63 - 1), st.integers(0, 2**64 - 1))
def test_cosign_then_verify_round_trip(timestamp: int, size: int) -> None:
    text = format_checkpoint(Checkpoint(LOG, size, bytes(32)))
    w1 = parse_cosigner_vkey(cosigner_vkey("w1", W1.public_key()))
    note = sign_checkpoint(Checkpoint(LOG, size, bytes(32)), LOG, LOG_KEY) + cosign(text, "w1", W1, timestamp)
    assert cosignatures(note, [w1])[0].timestamp == timestamp


# Checkpoint key history -------------------------------------------------------------------------


def _rotation(index: int, old: Ed25519PrivateKey, new: Ed25519PrivateKey) -> Rotation:
    old_vkey, new_vkey, statement = rotation_statement(LOG, old, new)
    return Rotation(index, LOG, old_vkey, new_vkey, statement)


def test_the_key_history_names_the_key_of_each_size_from_any_key_held() -> None:
    k0, k1, k2 = LOG_KEY, W1, W2
    rotations = [_rotation(5, k0, k1), _rotation(9, k1, k2)]
    verifiers = [parse_vkey(vkey(LOG, k.public_key())) for k in (k0, k1, k2)]
    for held in verifiers:
        history = follow(held, rotations)
        assert [history.verifier_for(size).key_hash for size in (0, 5, 6, 9, 10, 99)] == [
            verifiers[0].key_hash, verifiers[0].key_hash, verifiers[1].key_hash,
            verifiers[1].key_hash, verifiers[2].key_hash, verifiers[2].key_hash,
        ]  # fmt: skip
        assert history.latest.key_hash == verifiers[2].key_hash


def test_a_rotation_not_signed_by_the_old_key_breaks_the_history() -> None:
    k0, k1, thief = LOG_KEY, W1, W2
    honest = _rotation(5, k0, k1)
    forged_vkey, new_vkey, statement = rotation_statement(LOG, thief, k1)
    forged = Rotation(5, LOG, honest.old_vkey, new_vkey, statement)  # claims k0, signed by the thief
    held = parse_vkey(vkey(LOG, k0.public_key()))
    with pytest.raises(IntegrityFailure, match="leaf 5"):
        follow(held, [forged])
    with pytest.raises(IntegrityFailure, match="does not start from the key in force"):
        follow(held, [honest, _rotation(8, thief, k0)])
    with pytest.raises(IntegrityFailure, match="none of the log's checkpoint keys"):
        follow(parse_vkey(vkey(LOG, thief.public_key())), [honest])
