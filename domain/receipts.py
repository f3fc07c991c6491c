"""Receipt bundles: a receipt that stands alone, checkable offline by anyone holding the log's vkey.

A bundle (``GET /v1/receipts?leaf_index=N``, docs/api.md) is JSON::

    {"format": "safeguarding-ledger-receipt", "version": 1,
     "receipt": {"agency", "record_id", "leaf_index", "leaf_hash", "recorded_at"},
     "entry": base64 entry bytes, "vkey": the log's verifier key,
     "proof": a C2SP tlog-proof: "c2sp.org/tlog-proof@v1", "index N", the RFC 9162 inclusion
              proof one base64 hash a line, a blank line, then the signed checkpoint (with any
              witness cosignatures)}

``verify_bundle`` checks the entry hashes to the receipt's leaf hash and names its record, the
checkpoint's signature, and the inclusion proof from that leaf to the checkpoint's root; and, given
witnesses, that enough of them cosigned the checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain import merkle
from domain.checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from domain.cosignature import Cosignature, Cosigner, require_quorum
from domain.errors import ProofError

BUNDLE_FORMAT = "safeguarding-ledger-receipt"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
RECEIPT_FIELDS = ("agency", "record_id", "leaf_index", "leaf_hash", "recorded_at")
MAX_PROOF_LINES = 64


@dataclass(frozen=True)
class VerifiedReceipt:
    """A bundle that checked: its receipt, the checkpoint it is proved in, and its witnesses."""

    receipt: dict
    checkpoint: Checkpoint
    note: str
    cosignatures: list[Cosignature] = field(default_factory=list)


def tlog_proof(index: int, proof: list[bytes], note: str) -> str:
    """The C2SP tlog-proof text of leaf ``index``: header, index, proof hashes, blank line, note."""
    lines = [TLOG_PROOF_HEADER, f"index {index}", *(_b64(node) for node in proof)]
    return "\n".join(lines) + "\n\n" + note


def parse_tlog_proof(text: str) -> tuple[int, list[bytes], str]:
    """``(index, proof hashes, checkpoint note)`` of a C2SP tlog-proof; ProofError when malformed.
    An ``extra`` line is allowed and ignored (it is not authenticated)."""
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != TLOG_PROOF_HEADER:
        raise ProofError(f"the proof is not a {TLOG_PROOF_HEADER} text")
    rest = lines[1:]
    if rest and rest[0].startswith("extra "):
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise ProofError("the proof has no index line")
    digits = rest[0].removeprefix("index ")
    if not digits.isascii() or not digits.isdigit() or (digits != "0" and digits.startswith("0")):
        raise ProofError("the proof's index is not a decimal without leading zeros")
    hashes = rest[1:]
    if len(hashes) > MAX_PROOF_LINES:
        raise ProofError("the inclusion proof is longer than any tree's")
    return int(digits), [_hash(line) for line in hashes], note


def verify_bundle(
    bundle: object,
    verifier: NoteVerifier,
    witnesses: Mapping[str, Cosigner] | None = None,
    required: int = 0,
) -> VerifiedReceipt:
    """Check a receipt bundle offline against the log's ``verifier`` (see module doc); ProofError
    names the first thing that does not hold."""
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT or bundle.get("version") != 1:
        raise ProofError(f"not a {BUNDLE_FORMAT} bundle of version 1")
    receipt = bundle.get("receipt")
    if not isinstance(receipt, dict) or not all(name in receipt for name in RECEIPT_FIELDS):
        raise ProofError(f"the bundle's receipt lacks one of {', '.join(RECEIPT_FIELDS)}")
    if not isinstance(bundle.get("entry"), str) or not isinstance(bundle.get("proof"), str):
        raise ProofError("the bundle has no entry or proof text")
    entry = _decode(bundle["entry"], "entry")
    leaf = merkle.leaf_hash(entry)
    if not isinstance(receipt["leaf_hash"], str) or _decode(receipt["leaf_hash"], "leaf_hash") != leaf:
        raise ProofError("the entry does not hash to the receipt's leaf_hash")
    try:
        data = json.loads(entry.decode("utf-8"))
    except (ValueError, RecursionError):
        raise ProofError("the entry is not UTF-8 JSON") from None
    if not isinstance(data, dict) or data.get("kind") != "record":
        raise ProofError("the entry is not a record entry")
    for name, entry_name in (("agency", "agency"), ("record_id", "record_id"), ("recorded_at", "at")):
        if data.get(entry_name) != receipt[name]:
            raise ProofError(f"the entry's {entry_name} is not the receipt's {name}")
    index, proof, note = parse_tlog_proof(bundle["proof"])
    if type(receipt["leaf_index"]) is not int or index != receipt["leaf_index"]:
        raise ProofError("the proof is for another leaf than the receipt's")
    checkpoint = verify_checkpoint(note, verifier)
    if checkpoint.origin != verifier.name:
        raise ProofError(f"the checkpoint is of log {checkpoint.origin!r}, not {verifier.name!r}")
    merkle.verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root)
    found = require_quorum(note, witnesses, required) if witnesses is not None and required > 0 else []
    return VerifiedReceipt(dict(receipt), checkpoint, note, found)


def _hash(line: str) -> bytes:
    raw = _decode(line, "proof hash")
    if len(raw) != merkle.HASH_SIZE:
        raise ProofError("a proof line is not a SHA-256 hash")
    return raw


def _decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"the bundle's {what} is not standard base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
