"""The byte format of a log entry, version 1: what each Merkle leaf hashes (docs/log-format.md).

Every stored event becomes one entry: canonical JSON (UTF-8, keys sorted, no insignificant white
space) of ``{"v": 1, "kind", "at", "originator", ...the event's own fields}``. A record's entry
embeds its DSSE ``payloadType``, ``payload`` and signature strings verbatim, so anyone holding the
log can check the agency's signature without the ledger.

Every other entry (no agency signs it: access, decisions, links, tokens, administration, and any
kind added later) also carries ``ledger_sig``, the ledger's own Ed25519 signature, made in the
ledger process as the event is stored (domain/ledger's mapper): so a row put into the database by
someone without the ledger's key is an entry nobody can pass off as the ledger's. The signature is
over the DSSE pre-authentication encoding of the entry's bytes without that member, with the
payload type ENTRY_SIGNATURE_TYPE, so it can never be mistaken for a checkpoint note signed with
the same key (a note's text ends in a newline; the encoding holds none).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.envelope import pae
from domain.errors import InvalidPayload

ENTRY_VERSION = 1

#: The one kind an agency signs; every other kind is signed by the ledger.
RECORD_KIND = "record"

#: The entry member that holds the ledger's signature (standard base64 of 64 bytes), and the name it
#: is kept under in the stored event's state, beside the event's own fields.
LEDGER_SIGNATURE = "ledger_sig"

#: The DSSE payload type the ledger's entry signatures are made over (docs/log-format.md).
ENTRY_SIGNATURE_TYPE = "application/vnd.safeguarding-ledger.entry.v1+json"


class LoggedEvent(Protocol):
    """What an event must offer to become a log entry."""

    ENTRY_KIND: str
    originator_id: Any
    timestamp: datetime

    def entry_fields(self) -> dict: ...


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``: one spelling per instant, so bytes are stable."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(data: dict) -> bytes:
    """Sorted keys, no white space, UTF-8: the same data always gives the same bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def ledger_signed(kind: object) -> bool:
    """Whether entries of ``kind`` carry the ledger's signature: every kind but ``record``."""
    return kind != RECORD_KIND


def _entry_data(event: LoggedEvent) -> dict:
    fields = event.entry_fields()
    if LEDGER_SIGNATURE in fields:
        raise ValueError(f"an event field may not be called {LEDGER_SIGNATURE}")
    return {
        "v": ENTRY_VERSION,
        "kind": event.ENTRY_KIND,
        "at": format_time(event.timestamp),
        "originator": str(event.originator_id),
        **fields,
    }


def entry_bytes(event: LoggedEvent) -> bytes:
    """The entry bytes of one stored event, with the ledger's signature when it was stored with one."""
    data = _entry_data(event)
    signature = getattr(event, LEDGER_SIGNATURE, None)
    if signature is not None:
        data[LEDGER_SIGNATURE] = signature
    return canonical_json(data)


def sign_entry(unsigned: bytes, key: Ed25519PrivateKey) -> str:
    """The ``ledger_sig`` value for entry bytes that have none yet."""
    return base64.b64encode(key.sign(pae(ENTRY_SIGNATURE_TYPE, unsigned))).decode("ascii")


def check_ledger_signature(entry: bytes, data: dict, key: Ed25519PublicKey) -> None:
    """Check the ``ledger_sig`` of a parsed entry (``data``, parsed from ``entry``) with the ledger's
    public key; raises ValueError saying why it does not hold.

    A signed entry must be in canonical form, so its bytes are fully fixed by what was signed: the
    signed message is the canonical JSON of the entry without the ``ledger_sig`` member.
    """
    signature = data.get(LEDGER_SIGNATURE)
    if type(signature) is not str:
        raise ValueError("its ledger_sig is not a string")
    if canonical_json(data) != entry:
        raise ValueError("a ledger-signed entry must be in canonical form")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise ValueError("its ledger_sig is not standard base64") from None
    unsigned = canonical_json({name: value for name, value in data.items() if name != LEDGER_SIGNATURE})
    try:
        key.verify(raw, pae(ENTRY_SIGNATURE_TYPE, unsigned))
    except InvalidSignature:
        raise ValueError("the ledger's signature over it does not verify") from None


def decode_entry(data: bytes) -> dict:
    """Parse entry bytes back into their fields, refusing anything that is not a version 1 entry."""
    try:
        entry = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload("entry is not UTF-8 JSON") from exc
    if not isinstance(entry, dict) or entry.get("v") != ENTRY_VERSION or "kind" not in entry:
        raise InvalidPayload("entry is not a version 1 log entry")
    if canonical_json(entry) != data:
        raise InvalidPayload("entry is not in canonical form")
    return entry
