"""DSSE v1 envelopes signed with Ed25519 (SPEC section 1).

The ledger keeps ``payloadType``, ``payload`` and every ``keyid``/``sig`` string exactly as received
and verifies the signature over PAE of the decoded payload bytes, so no canonicalisation is ever
needed: the signed bytes are the stored bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import InvalidPayload, MalformedEnvelope, SignatureRejected
from domain.jsonstrict import parse_json
from domain.text import shown_name, text_fault

PAYLOAD_TYPE = "application/vnd.safeguarding-ledger.record.v1+json"
MAX_SIGNATURES = 8
_ENVELOPE_FIELDS = {"payloadType", "payload", "signatures"}
_SIGNATURE_FIELDS = {"keyid", "sig"}


@dataclass(frozen=True, slots=True)
class Signature:
    """One DSSE signature, both strings exactly as received."""

    keyid: str
    sig: str


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed DSSE envelope: the three received strings plus the decoded payload bytes."""

    payload_type: str
    payload: str
    signatures: tuple[Signature, ...]
    payload_bytes: bytes

    def to_json(self) -> dict:
        """The envelope as JSON data, every string as received."""
        return {
            "payloadType": self.payload_type,
            "payload": self.payload,
            "signatures": [{"keyid": s.keyid, "sig": s.sig} for s in self.signatures],
        }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding: ``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body``."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key id of SPEC section 1: lowercase hex SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key_pem(pem: bytes) -> Ed25519PublicKey:
    """Read a SubjectPublicKeyInfo PEM (as ``openssl genpkey -algorithm ed25519`` makes) or refuse it."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise MalformedEnvelope("the public key is not a PEM SubjectPublicKeyInfo") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise MalformedEnvelope("the public key is not an Ed25519 key")
    return key


def load_private_key_pem(pem: bytes) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key or refuse it."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise MalformedEnvelope("the private key is not an unencrypted PKCS#8 PEM") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedEnvelope("the private key is not an Ed25519 key")
    return key


def sign(payload: bytes, private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE) -> dict:
    """A DSSE envelope (as JSON data) signing ``payload`` exactly as given."""
    signature = private_key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(signature).decode("ascii")}
        ],
    }


def _strict_b64decode(text: str, what: str) -> bytes:
    """Standard base64 with padding in its one canonical spelling, refusing anything else.

    Canonical only (unused trailing bits zero), so two different envelope strings never carry the
    same signed bytes: a changed character always changes what is signed.
    """
    try:
        encoded = text.encode("ascii")
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MalformedEnvelope(f"{what} is not standard base64") from exc
    if base64.b64encode(decoded) != encoded:
        raise MalformedEnvelope(f"{what} is not standard base64 (non-canonical encoding)")
    return decoded


def parse_envelope(data: bytes | str | dict, payload_type_wanted: str = PAYLOAD_TYPE) -> Envelope:
    """Parse a DSSE envelope strictly: JSON object, exactly the DSSE fields, valid base64, the
    payload type wanted (a record's, unless told), one to eight signatures each with exactly
    ``keyid`` and ``sig``."""
    if isinstance(data, (bytes, str)):
        data = parse_json(data, what="the envelope", error=MalformedEnvelope)
    if not isinstance(data, dict):
        raise MalformedEnvelope("the envelope must be a JSON object")
    fields = set(data)
    if fields != _ENVELOPE_FIELDS:
        missing, extra = sorted(_ENVELOPE_FIELDS - fields), sorted(shown_name(f) for f in fields - _ENVELOPE_FIELDS)
        raise MalformedEnvelope(f"envelope fields wrong: missing {missing}, unexpected {extra}")
    payload_type, payload, signatures = data["payloadType"], data["payload"], data["signatures"]
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise MalformedEnvelope("payloadType and payload must be strings")
    if not isinstance(signatures, list) or not signatures:
        raise MalformedEnvelope("signatures must be a non-empty list")
    if len(signatures) > MAX_SIGNATURES:
        raise MalformedEnvelope(f"at most {MAX_SIGNATURES} signatures are accepted")
    parsed = []
    for item in signatures:
        if not isinstance(item, dict) or set(item) != _SIGNATURE_FIELDS:
            raise MalformedEnvelope("each signature must have exactly keyid and sig")
        if not isinstance(item["keyid"], str) or not isinstance(item["sig"], str):
            raise MalformedEnvelope("keyid and sig must be strings")
        fault = text_fault(item["keyid"], single_line=True)
        if fault is not None:  # every keyid is stored verbatim in the record's entry (SPEC 6.6)
            raise MalformedEnvelope(f"a signature's keyid must be printable characters only: it holds {fault}")
        _strict_b64decode(item["sig"], "a signature")
        parsed.append(Signature(item["keyid"], item["sig"]))
    payload_bytes = _strict_b64decode(payload, "the payload")
    if payload_type != payload_type_wanted:
        raise InvalidPayload(f"payloadType must be {payload_type_wanted}")
    return Envelope(payload_type, payload, tuple(parsed), payload_bytes)


def verify(envelope: Envelope, keys: dict[str, Ed25519PublicKey]) -> str:
    """Return the key id of the first signature that verifies with one of ``keys`` (key id -> key).

    Refuses with SignatureRejected when no signature names a known key, or none verifies.
    """
    message = pae(envelope.payload_type, envelope.payload_bytes)
    known = [s for s in envelope.signatures if s.keyid in keys]
    if not known:
        raise SignatureRejected("no signature is by a key registered and unrevoked for this agency")
    for signature in known:
        try:
            keys[signature.keyid].verify(base64.b64decode(signature.sig), message)
        except InvalidSignature:
            continue
        return signature.keyid
    raise SignatureRejected("the signature does not verify")
