"""Key statements: an agency's own word, signed with a key it holds now, that a new key is its own.

An administrator may register an agency, but may not quietly give an existing agency a key of the
administrator's choosing (which would let them sign records in its name). So a further key is
added only with a statement, a DSSE envelope of its own payload type, signed by one of the agency's
current (registered, unrevoked) keys and naming the agency and the new key; or, when no key can sign
(all lost or revoked), with an override reason that the log flags and ``ledger verify`` reports
(SPEC 6.4). The statement travels verbatim in the ``key_added`` entry, so anyone holding the log can
check it as they check a record's signature.

The payload is a JSON object of exactly three fields::

    {"agency": "<agency id>", "keyid": "<hex SHA-256 of the raw key>",
     "public_key": "<standard base64 of the raw 32-byte Ed25519 public key>"}
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain import envelope as dsse
from domain.errors import InvalidPayload, MalformedEnvelope, SignatureRejected
from domain.jsonstrict import parse_json

KEY_STATEMENT_TYPE = "application/vnd.safeguarding-ledger.key-statement.v1+json"
STATEMENT_FIELDS = frozenset({"agency", "keyid", "public_key"})


@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    """A statement that holds: the envelope as received (JSON data) and the key id that signed it."""

    envelope: dict
    signed_by: str


def statement_payload(agency_id: str, public_key: Ed25519PublicKey) -> bytes:
    """The statement's payload bytes for ``public_key`` joining ``agency_id`` (sorted, compact JSON)."""
    raw = dsse.raw_public_key(public_key)
    fields = {"agency": agency_id, "keyid": dsse.key_id(public_key), "public_key": base64.b64encode(raw).decode()}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_statement(agency_id: str, new_key: Ed25519PublicKey, signing_key: Ed25519PrivateKey) -> dict:
    """The DSSE envelope (JSON data) in which ``signing_key`` vouches for ``new_key`` as the agency's."""
    return dsse.sign(statement_payload(agency_id, new_key), signing_key, KEY_STATEMENT_TYPE)


def verify_statement(
    raw: bytes | str | dict,
    agency_id: str,
    keyid: str,
    public_key: bytes,
    signing_keys: dict[str, Ed25519PublicKey],
) -> VerifiedStatement:
    """Check a statement for adding ``keyid`` (raw ``public_key``) to ``agency_id``, signed by one
    of ``signing_keys`` (the agency's keys that may sign now). Refuses with MalformedEnvelope (not a
    DSSE envelope), InvalidPayload (another payload type, or a payload that does not name exactly
    this agency and key) or SignatureRejected (no current key of the agency signed it)."""
    envelope = dsse.parse_envelope(raw, KEY_STATEMENT_TYPE)
    fields = parse_json(envelope.payload_bytes, what="the key statement", error=InvalidPayload,
                        deep_error=MalformedEnvelope)  # fmt: skip
    if not isinstance(fields, dict) or set(fields) != STATEMENT_FIELDS:
        raise InvalidPayload("the key statement must be a JSON object of exactly agency, keyid and public_key")
    wanted = {"agency": agency_id, "keyid": keyid, "public_key": base64.b64encode(public_key).decode("ascii")}
    for name in sorted(STATEMENT_FIELDS):
        if fields[name] != wanted[name]:
            raise InvalidPayload(f"the key statement names another {name} than the key being added")
    if not signing_keys:
        raise SignatureRejected(f"agency {agency_id} has no current key that could sign a key statement")
    try:
        signed_by = dsse.verify(envelope, signing_keys)
    except SignatureRejected:
        raise SignatureRejected(
            f"the key statement is not signed by a current key of agency {agency_id}"
        ) from None
    return VerifiedStatement(envelope.to_json(), signed_by)
