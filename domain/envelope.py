"""DSSE v1 envelopes signed with Ed25519 (SPEC section 1).

The ledger keeps ``payloadType``, ``payload`` and every ``keyid``/``sig`` string exactly as received
and verifies the signature over PAE of the decoded payload bytes, so no canonicalisation is ever
needed: the signed bytes are the stored bytes.

DSSE makes ``keyid`` an optional, unauthenticated hint, and standard clients fill it their own way
(securesystemslib and in-toto put their own key id there, not the SHA-256 of the raw key). So the
ledger tries the key a hint names first, and otherwise every current key of the agency (a handful
at most); what it records is the key id of SPEC section 1 of the key that verified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import InvalidKey, InvalidPayload, MalformedEnvelope, SignatureRejected
from domain.jsonstrict import parse_json
from domain.text import shown_name, text_fault

PAYLOAD_TYPE = "application/vnd.safeguarding-ledger.record.v1+json"
MAX_SIGNATURES = 8
_ENVELOPE_FIELDS = {"payloadType", "payload", "signatures"}
_SIGNATURE_FIELDS = {"keyid", "sig"}
#: An unhinted signature is tried against at most this many current keys (an agency has one or two;
#: rotation leaves a few); beyond it, the signature must name its key.
MAX_KEYS_TRIED = 8
#: How a refusal explains key ids to the integrator who reads it.
KEYID_RULE = (
    "a keyid is only a hint: the ledger tries the key it names, then each current key of the agency, "
    "and names keys by the lowercase hex SHA-256 of the raw 32-byte Ed25519 public key"
)


@dataclass(frozen=True, slots=True)
class Signature:
    """One DSSE signature, both strings exactly as received; ``keyid`` is None when it was absent."""

    keyid: str | None
    sig: str

    def to_json(self) -> dict:
        """The signature as JSON data, as received: no keyid member when none was sent."""
        return {"sig": self.sig} if self.keyid is None else {"keyid": self.keyid, "sig": self.sig}


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
            "signatures": [s.to_json() for s in self.signatures],
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
        raise InvalidKey("the public key is not a PEM SubjectPublicKeyInfo") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidKey("the public key is not an Ed25519 key")
    return key


def load_private_key_pem(pem: bytes) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key or refuse it."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidKey("the private key is not an unencrypted PKCS#8 PEM") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidKey("the private key is not an Ed25519 key")
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
    payload type wanted (a record's, unless told), one to eight signatures each with ``sig`` and
    optionally ``keyid`` (DSSE's own rule), nothing else."""
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
        if not isinstance(item, dict) or "sig" not in item or not set(item) <= _SIGNATURE_FIELDS:
            raise MalformedEnvelope("each signature must have sig, may have keyid, and nothing else")
        keyid = item.get("keyid")
        if (keyid is not None and not isinstance(keyid, str)) or not isinstance(item["sig"], str):
            raise MalformedEnvelope("keyid and sig must be strings")
        fault = None if keyid is None else text_fault(keyid, single_line=True)
        if fault is not None:  # every keyid is stored verbatim in the record's entry (SPEC 6.6)
            raise MalformedEnvelope(f"a signature's keyid must be printable characters only: it holds {fault}")
        _strict_b64decode(item["sig"], "a signature")
        parsed.append(Signature(keyid, item["sig"]))
    payload_bytes = _strict_b64decode(payload, "the payload")
    if payload_type != payload_type_wanted:
        raise InvalidPayload(f"payloadType must be {payload_type_wanted}")
    return Envelope(payload_type, payload, tuple(parsed), payload_bytes)


def verify(
    envelope: Envelope, keys: dict[str, Ed25519PublicKey], owner: str = "this agency", revoked: frozenset[str] = frozenset()
) -> str:
    """Return the key id (SPEC section 1) of a key of ``keys`` (key id -> key) that verifies a signature.

    A signature whose ``keyid`` names one of ``keys`` is checked with that key first: the common
    case costs one verification. Failing that, every signature is tried with every other key, as
    DSSE asks of a keyid it calls a hint, up to MAX_KEYS_TRIED keys. Refuses with SignatureRejected
    naming the key ids the envelope gave and the rule it expected; ``owner`` and ``revoked`` (the
    owner's revoked key ids) only make that message precise.
    """
    message = pae(envelope.payload_type, envelope.payload_bytes)
    signatures = [(s, base64.b64decode(s.sig)) for s in envelope.signatures]
    for signature, raw in signatures:
        if signature.keyid in keys and _verifies(keys[signature.keyid], raw, message):
            return signature.keyid
    if len(keys) <= MAX_KEYS_TRIED:
        for keyid, key in keys.items():
            if any(s.keyid != keyid and _verifies(key, raw, message) for s, raw in signatures):
                return keyid
    raise SignatureRejected(_refusal(envelope, keys, owner, revoked))


def _verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _refusal(envelope: Envelope, keys: dict[str, Ed25519PublicKey], owner: str, revoked: frozenset[str]) -> str:
    """Why no signature counts, for the integrator: each keyid seen, what the ledger made of it, the rule."""
    named_revoked = [s.keyid for s in envelope.signatures if s.keyid in revoked]
    seen = "; ".join(_shown_keyid(s.keyid, keys, revoked) for s in envelope.signatures)
    current = ", ".join(sorted(keys)) or "none"
    if len(keys) > MAX_KEYS_TRIED:
        current = f"{len(keys)} keys, too many to try without a keyid naming one"
    lead = f"key {named_revoked[0]} of agency {owner} is revoked; " if named_revoked else ""
    return (
        f"{lead}no signature verifies with a current key of agency {owner} "
        f"(keyids in the envelope: {seen}; {KEYID_RULE}; current keys: {current})"
    )


def _shown_keyid(keyid: str | None, keys: dict[str, Ed25519PublicKey], revoked: frozenset[str]) -> str:
    if keyid is None:
        return "absent"
    if keyid == "":
        return "empty"
    shown = shown_name(keyid, 80)
    if keyid in keys:
        return f"{shown} (a current key, but its signature does not verify)"
    if keyid in revoked:
        return f"{shown} (revoked)"
    return f"{shown} (not a current key of the agency)"
