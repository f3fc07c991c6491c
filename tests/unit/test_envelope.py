"""DSSE envelope parsing and verification (SPEC section 1), pure: no storage."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from domain import envelope as dsse
from domain.errors import InvalidPayload, MalformedEnvelope, SignatureRejected

KEY = Ed25519PrivateKey.generate()
KEYS = {dsse.key_id(KEY.public_key()): KEY.public_key()}
PAYLOAD = b'{"agency":"northshire-police","record_id":"r1"}'


def test_pae_matches_the_dsse_definition():
    assert dsse.pae("t", b"hello") == b"DSSEv1 1 t 5 hello"
    # The example in the DSSE v1 protocol document.
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_key_id_is_hex_sha256_of_raw_key():
    import hashlib

    assert dsse.key_id(KEY.public_key()) == hashlib.sha256(dsse.raw_public_key(KEY.public_key())).hexdigest()


def test_signed_envelope_verifies_and_keeps_strings_verbatim():
    signed = dsse.sign(PAYLOAD, KEY)
    parsed = dsse.parse_envelope(json.dumps(signed, indent=3))
    assert dsse.verify(parsed, KEYS) == signed["signatures"][0]["keyid"]
    assert parsed.to_json() == signed
    assert parsed.payload_bytes == PAYLOAD


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        (b"not json", MalformedEnvelope, "not valid JSON"),
        (b"[1]", MalformedEnvelope, "JSON object"),
        (b'{"payloadType": "x", "payload": ""}', MalformedEnvelope, "missing ['signatures']"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "extra": 1}), MalformedEnvelope, "unexpected ['extra']"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "payload": "!!!"}), MalformedEnvelope, "payload is not standard base64"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "signatures": []}), MalformedEnvelope, "non-empty list"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "signatures": [{"keyid": "k"}]}), MalformedEnvelope, "must have sig, may have keyid"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "signatures": [{"sig": "AA==", "x": 1}]}), MalformedEnvelope, "nothing else"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "signatures": [{"keyid": 7, "sig": "AA=="}]}), MalformedEnvelope, "must be strings"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "signatures": [{"keyid": "k", "sig": "%%"}]}), MalformedEnvelope, "signature is not"),
        (json.dumps({**dsse.sign(PAYLOAD, KEY), "payloadType": "text/plain"}), InvalidPayload, "payloadType must be"),
    ],
)
def test_malformed_envelopes_are_refused_precisely(raw, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        dsse.parse_envelope(raw)


def test_signature_by_unknown_key_is_refused():
    other = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureRejected, match="no signature verifies with a current key") as refusal:
        dsse.verify(dsse.parse_envelope(dsse.sign(PAYLOAD, other)), KEYS)
    # The refusal names the keyid it was given, the rule it expected, and the keys it tried.
    assert dsse.key_id(other.public_key()) in str(refusal.value) and "SHA-256 of the raw" in str(refusal.value)
    assert next(iter(KEYS)) in str(refusal.value)


def test_signature_that_does_not_verify_is_refused():
    signed = dsse.sign(PAYLOAD, KEY)
    signed["payload"] = base64.b64encode(PAYLOAD + b" ").decode()
    with pytest.raises(SignatureRejected, match="a current key, but its signature does not verify"):
        dsse.verify(dsse.parse_envelope(signed), KEYS)


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["payloadType", "payload", "sig", "keyid"]), position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_mutation_of_a_signed_envelope_is_refused(field, position, bit):
    """Flip one bit of any decoded byte of any signed part: the envelope never verifies. The keyid
    is not signed (DSSE calls it a hint): a changed one still verifies, as the right key's id."""
    signed = dsse.sign(PAYLOAD, KEY)
    signature = signed["signatures"][0]
    if field in ("payloadType", "keyid"):
        text = signed["payloadType"] if field == "payloadType" else signature["keyid"]
        raw = bytearray(text.encode())
        raw[position % len(raw)] ^= 1 << bit
        mutated = raw.decode("latin-1")
        if field == "payloadType":
            signed["payloadType"] = mutated
        else:
            signature["keyid"] = mutated
    else:
        source = signed["payload"] if field == "payload" else signature["sig"]
        raw = bytearray(base64.b64decode(source))
        raw[position % len(raw)] ^= 1 << bit
        encoded = base64.b64encode(bytes(raw)).decode()
        if field == "payload":
            signed["payload"] = encoded
        else:
            signature["sig"] = encoded
    if field == "keyid":
        try:
            parsed = dsse.parse_envelope(signed)
        except MalformedEnvelope:
            return  # the flip made it a control character, which no keyid may hold
        assert dsse.verify(parsed, KEYS) == next(iter(KEYS))
        return
    with pytest.raises((MalformedEnvelope, SignatureRejected, InvalidPayload)):
        dsse.verify(dsse.parse_envelope(signed), KEYS)
