"""Offline verification of the whole log: every entry, every signature, the tree and every checkpoint.

Verification is split in two so that the costly part runs on all cores:

* ``audit_chunk`` checks a run of consecutive entries on their own: the entry format, the leaf hash
  against the one the ledger recorded, each record's DSSE signature by the key its entry names, and
  the ledger's own signature on every other entry (domain/entries). It needs only the public key of
  every key id (which key history lists) and the ledger's, and keeps nothing between chunks, so any
  process can check any chunk.
* ``Auditor`` consumes the chunk reports strictly in log order, in constant memory: it rebuilds the
  RFC 9162 tree with a CompactRange, replays the agencies' history (domain/agency_history.py: which
  key belonged to which agency and from which entry to which it could sign, which councils each
  agency served, which keys were added without the agency's statement), and checks each signed
  checkpoint's signature and root at its size. Two checkpoints whose roots both match the one
  recomputed tree are consistent: the older tree is a prefix of the newer. It also holds
  entries to the ledger's signature from the first entry the ledger signed on (the point its
  signatures begin, unforgeable since that entry carries one): entries before it were written before
  the ledger signed entries; an unsigned entry after it was put there by someone without the key.
  Given a ``NodeCheck`` it compares every stored Merkle node with the recomputed tree too
  (domain/stored_tree).

The first problem, at the lowest leaf index, raises IntegrityFailure; nothing after it is trusted.
A log that verifies may still hold keys added without their agency's statement: the result lists
them (``flagged_keys``) with the records each signed, for a person to judge (SPEC 6.4).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain import merkle
from domain.agencies import AGENCY_NAMESPACE
from domain.agency_history import (  # noqa: F401 - some re-exported: callers know them from here
    KEY_KINDS,
    AgencyHistory,
    EntryProblem,
    FlaggedKey,
    KeyEvent,
    KeyUse,
    b64_field as _b64,
    check_agency_fields,
    check_vouching,
    key_event_line,
    key_event_of,
    parse_key_event_line,
    text_field as _text,
)
from domain.checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from domain.entries import ENTRY_VERSION, LEDGER_SIGNATURE, check_ledger_signature, ledger_signed
from domain.envelope import PAYLOAD_TYPE, pae
from domain.errors import IntegrityFailure, LedgerError
from domain.records import RECORD_NAMESPACE
from domain.stored_tree import NodeCheck

@dataclass(slots=True)
class ChunkReport:
    """What ``audit_chunk`` found in entries ``[start, start + len(leaf_hashes) // 32)``."""

    start: int
    leaf_hashes: bytes = b""
    key_events: list[KeyEvent] = field(default_factory=list)
    key_uses: list[KeyUse] = field(default_factory=list)
    failure: tuple[int, str] | None = None
    #: The first entry of the chunk that carries a valid ledger signature, if any.
    signed_from: int | None = None
    #: ``(index, kind)`` of each entry of a ledger-signed kind that carries no ledger signature.
    unsigned: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AuditResult:
    """A log that verified: its size and root, the checkpoints checked, and how far they reach."""

    size: int
    root: bytes
    checkpoints: int
    covered: int
    flagged_keys: tuple[FlaggedKey, ...] = ()
    #: The first leaf the ledger signed (None: it signed none), and how many entries of a
    #: ledger-signed kind before it carry no signature (written before the ledger signed entries).
    signed_from: int | None = None
    unsigned_before: int = 0


def audit_chunk(
    start: int,
    entries: Iterable[tuple[bytes, bytes | None]],
    keys: Mapping[str, bytes],
    ledger_key: bytes | tuple[bytes, ...] | None = None,
) -> ChunkReport:
    """Check consecutive entries from leaf ``start``: each item is ``(entry bytes, recorded leaf hash
    or None)``; ``keys`` maps every key id to its raw public key, ``ledger_key`` is the ledger's raw
    public key, or every key of its checkpoint-key history (without one, no ledger signature verifies). Stops at the first problem,
    which the ``entries`` iterable may raise itself (EntryProblem) for an entry it cannot produce."""
    report, hashes = ChunkReport(start), []
    checker = _EntryChecker(keys, report, ledger_key)
    index = start
    try:
        for entry, recorded in entries:
            hashes.append(checker.check(index, entry, recorded))
            index += 1
    except EntryProblem as problem:
        report.failure = (index, str(problem))
    report.leaf_hashes = b"".join(hashes)
    return report


class _EntryChecker:
    """The per-entry checks of ``audit_chunk``; caches parsed public keys within the chunk."""

    def __init__(
        self, keys: Mapping[str, bytes], report: ChunkReport, ledger_key: bytes | tuple[bytes, ...] | None = None
    ) -> None:
        self.keys = keys
        self.report = report
        self.parsed: dict[str, Ed25519PublicKey] = {}
        raw_keys = () if ledger_key is None else (ledger_key,) if isinstance(ledger_key, bytes) else ledger_key
        # Every checkpoint key the log's rotations name may have signed entries in its time.
        self.ledger_keys = [Ed25519PublicKey.from_public_bytes(raw) for raw in raw_keys]

    def check(self, index: int, entry: bytes, recorded: bytes | None) -> bytes:
        digest = merkle.leaf_hash(entry)
        if recorded is not None and digest != recorded:
            raise EntryProblem("the entry does not hash to the leaf hash the ledger recorded for it")
        data = read_entry(entry)
        kind = data["kind"]
        if not ledger_signed(kind):
            self.record(index, data)
            return digest
        self.ledger_signature(index, kind, entry, data)
        if kind in KEY_KINDS:
            self.key_event(index, kind, data)
        return digest

    def ledger_signature(self, index: int, kind: str, entry: bytes, data: dict) -> None:
        """An entry no agency signs: its ledger signature must hold; one without is noted, for the
        auditor to judge by where the ledger's signatures begin."""
        if LEDGER_SIGNATURE not in data:
            self.report.unsigned.append((index, kind))
            return
        if not self.ledger_keys:
            raise EntryProblem(f"the {kind} entry carries a ledger signature, but no ledger key was given to check it")
        for key in self.ledger_keys:
            try:
                check_ledger_signature(entry, data, key)
                break
            except ValueError as problem:
                failure = problem
        else:
            raise EntryProblem(f"the {kind} entry's ledger signature fails: {failure}") from None
        if self.report.signed_from is None:
            self.report.signed_from = index

    def record(self, index: int, data: dict) -> None:
        """A record entry: its place, its envelope and the agency's signature over the payload.

        The hot path of verification: every line here runs once per record, beside one Ed25519 verify.
        """
        try:
            agency, record_id, keyid, envelope = data["agency"], data["record_id"], data["keyid"], data["envelope"]
            payload_text, signatures = envelope["payload"], envelope["signatures"]
            payload_type = envelope["payloadType"]
        except (KeyError, TypeError):
            raise EntryProblem("the record entry lacks agency, record_id, keyid or its envelope") from None
        if not (type(agency) is type(record_id) is type(keyid) is type(payload_text) is str):
            raise EntryProblem("the record entry's agency, record_id, keyid and payload must be strings")
        if data.get("originator") != _name_uuid(RECORD_NAMESPACE, f"{agency}\x1f{record_id}"):
            raise EntryProblem("the record entry's originator is not the one its agency and record_id give")
        if payload_type != PAYLOAD_TYPE or type(signatures) is not list:
            raise EntryProblem("the record entry has no envelope of the ledger's payload type")
        key = self.parsed.get(keyid) or self.public_key(keyid)
        payload = _b64(payload_text, "payload")
        message = pae(PAYLOAD_TYPE, payload)
        # A signature naming the entry's key first; then any other (its keyid was only a hint).
        ordered = sorted(signatures, key=lambda s: type(s) is not dict or s.get("keyid") != keyid)
        for signature in ordered:
            if type(signature) is dict and type(signature.get("sig")) is str:
                try:
                    key.verify(_b64(signature["sig"], "sig"), message)
                except InvalidSignature:
                    continue
                break
        else:
            raise EntryProblem(f"no signature by key {keyid} verifies over the payload")
        try:
            signed = json.loads(payload.decode("utf-8"))  # decoding first spares json its encoding sniffing
        except (ValueError, RecursionError):
            raise EntryProblem("the signed payload is not JSON") from None
        if type(signed) is not dict or signed.get("agency") != agency or signed.get("record_id") != record_id:
            raise EntryProblem("the signed payload names another agency or record_id than its entry")
        council = signed.get("local_authority")
        if council is not None and type(council) is not str:
            raise EntryProblem("the signed payload's local_authority is not a council code")
        self.report.key_uses.append((index, agency, keyid, council))

    def key_event(self, index: int, kind: str, data: dict) -> None:
        """An agency, key or areas entry: it belongs to its agency, its fields have their types, a
        key statement it carries verifies, and its key matches the listed history."""
        agency = _text(data, "agency")
        if data.get("originator") != _name_uuid(AGENCY_NAMESPACE, agency):
            raise EntryProblem(f"the {kind} entry's originator is not agency {agency}")
        check_agency_fields(kind, data)
        if kind in ("key_added", "key_revoked"):
            keyid = _text(data, "keyid")
        if kind == "key_added":
            public_key = _b64(_text(data, "public_key"), "public_key")
            if len(public_key) != 32 or hashlib.sha256(public_key).hexdigest() != keyid:
                raise EntryProblem(f"key {keyid} is not the SHA-256 of a 32-byte Ed25519 public key")
            if self.keys.get(keyid) != public_key:
                raise EntryProblem(f"the key history lists another public key for key {keyid}")
            check_vouching(data, agency, keyid, lambda signer: self.parsed.get(signer) or self.public_key(signer))
        self.report.key_events.append(key_event_of(index, data))

    def public_key(self, keyid: str) -> Ed25519PublicKey:
        if keyid not in self.parsed:
            raw = self.keys.get(keyid)
            if raw is None:
                raise EntryProblem(f"key {keyid} appears in no key_added entry")
            self.parsed[keyid] = Ed25519PublicKey.from_public_bytes(raw)
        return self.parsed[keyid]


def read_entry(entry: bytes) -> dict:
    """Parse entry bytes as a version 1 entry: a UTF-8 JSON object with ``v`` 1 and a ``kind``, in
    which no name repeats (so every reader sees the same fields). EntryProblem otherwise.

    The canonical spelling (domain/entries) is not re-derived here: the leaf hash already commits
    to the bytes as they are, and re-serialising every entry would cost more than the rest of the
    checks together.
    """
    try:
        data = _STRICT_JSON.decode(entry.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise EntryProblem("the entry is not UTF-8 JSON without repeated names") from None
    if type(data) is not dict or data.get("v") != ENTRY_VERSION or type(data.get("kind")) is not str:
        raise EntryProblem("the entry is not a version 1 log entry")
    return data


def _name_uuid(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` (RFC 4122 section 4.3) without building UUID objects:
    how aggregate ids derive from agency and record ids (domain/agencies, domain/records), here on
    the verifier's hot path."""
    # "surrogatepass": JSON can spell lone surrogates, which no id contains; they must mismatch, not raise.
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode("utf-8", "surrogatepass")).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50
    digest[8] = digest[8] & 0x3F | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _unique_names(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("repeated name")
    return data


_STRICT_JSON = json.JSONDecoder(object_pairs_hook=_unique_names)


class Auditor:
    """Consumes chunk reports in log order and checks what needs the whole history (see module doc).

    ``checkpoints`` yields ``(size, signed note)`` by non-decreasing size; each note must verify with
    ``verifier``, name ``origin`` (default: the key name) and carry the recomputed root at its size.
    ``verifier_for``, when given, names the checkpoint key in force at each size (rotations).
    ``key_history``, when given, is a listed agency history (an export's keys.jsonl) that must
    equal the agency, key and areas events of the log, one for one. ``on_checkpoint`` sees each
    verified checkpoint, so a
    caller can check its own copy of the tree against it (a problem there is an EntryProblem).
    """

    def __init__(
        self,
        verifier: NoteVerifier,
        checkpoints: Iterable[tuple[int, str]],
        origin: str | None = None,
        key_history: Iterable[KeyEvent] | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        verifier_for: Callable[[int], NoteVerifier] | None = None,
        node_check: NodeCheck | None = None,
    ) -> None:
        self.verifier = verifier
        self._verifier_for = verifier_for  # the key in force at each size (domain/checkpoint_keys)
        self.origin = verifier.name if origin is None else origin
        self.tree = merkle.CompactRange()
        self.checkpoints = 0
        self.covered = 0
        self._pending: Iterator[tuple[int, str]] = iter(checkpoints)
        self._next = next(self._pending, None)
        self._history = None if key_history is None else iter(key_history)
        self._on_checkpoint = on_checkpoint
        self._agencies = AgencyHistory()
        self._node_check = node_check
        self.signed_from: int | None = None
        self.unsigned_before = 0
        self._check_checkpoints()

    def add(self, report: ChunkReport) -> None:
        """Take the next chunk's report; raises IntegrityFailure at the first failing leaf."""
        if report.start != self.tree.size:
            raise IntegrityFailure(self.tree.size, f"entries arrived out of order (chunk at {report.start})")
        items: dict[int, KeyEvent | KeyUse] = {e.index: e for e in report.key_events}
        items.update((use[0], use) for use in report.key_uses)
        unsigned = dict(report.unsigned)
        hashes = report.leaf_hashes
        bad_node = None if self._node_check is None else self._node_check.first_bad(hashes)
        for offset in range(0, len(hashes), merkle.HASH_SIZE):
            index = self.tree.size
            if index in unsigned:
                self._unsigned(index, unsigned[index])
            elif index == report.signed_from and self.signed_from is None:
                self.signed_from = index
            item = items.get(index)
            if item is not None:
                try:
                    self._replay(item)
                except EntryProblem as problem:
                    raise IntegrityFailure(index, str(problem)) from None
            self.tree.append(hashes[offset : offset + merkle.HASH_SIZE])
            if bad_node is not None and bad_node[0] == index:
                raise IntegrityFailure(*bad_node)
            if self._next is not None and self._next[0] <= self.tree.size:
                self._check_checkpoints()
        if report.failure is not None:
            raise IntegrityFailure(*report.failure)

    def _unsigned(self, index: int, kind: str) -> None:
        """An entry of a ledger-signed kind without a signature: allowed only before the first."""
        if self.signed_from is not None:
            raise IntegrityFailure(
                index,
                f"the {kind} entry carries no ledger signature, though the ledger has signed its entries since "
                f"leaf {self.signed_from}: it was not written by the ledger",
            )
        self.unsigned_before += 1

    def finish(self) -> AuditResult:
        """Once every entry is in: refuse checkpoints or listed key events beyond the log's end."""
        size = self.tree.size
        if self._next is not None:
            raise IntegrityFailure(
                size, f"the log ends after {size} entries, but a checkpoint of size {self._next[0]} covers more"
            )
        if self._history is not None:
            extra = next(self._history, None)
            if extra is not None:
                raise IntegrityFailure(extra.index, f"the key history lists a {extra.kind} that the log lacks")
        return AuditResult(
            size, self.tree.root(), self.checkpoints, self.covered, self._agencies.flagged(), self.signed_from,
            self.unsigned_before,
        )

    def _replay(self, item: KeyEvent | KeyUse) -> None:
        """Apply one agency event, or check one record against the agencies' history right here."""
        if isinstance(item, tuple):
            self._agencies.use(item)
            return
        if self._history is not None and next(self._history, None) != item:
            raise EntryProblem(f"the listed key history differs from this {item.kind} entry")
        self._agencies.apply(item)

    def _check_checkpoints(self) -> None:
        """Check every pending checkpoint of the current size; one of a smaller size came too late."""
        size = self.tree.size
        while self._next is not None and self._next[0] <= size:
            claimed, note = self._next
            where = max(claimed - 1, 0)
            if claimed < size:
                raise IntegrityFailure(where, f"checkpoint of size {claimed} is out of order")
            try:
                verifier = self.verifier if self._verifier_for is None else self._verifier_for(claimed)
                checkpoint = verify_checkpoint(note, verifier)
            except LedgerError as error:
                raise IntegrityFailure(where, f"checkpoint of size {claimed}: {error}") from None
            if checkpoint.size != claimed or checkpoint.origin != self.origin:
                raise IntegrityFailure(where, f"checkpoint of size {claimed} is for another size or origin")
            if checkpoint.root != self.tree.root():
                raise IntegrityFailure(
                    where, f"checkpoint of size {claimed} signs another root than the entries up to it give"
                )
            if self._on_checkpoint is not None:
                try:
                    self._on_checkpoint(checkpoint)
                except EntryProblem as problem:
                    raise IntegrityFailure(where, f"checkpoint of size {claimed}: {problem}") from None
            self.checkpoints += 1
            self.covered = claimed
            self._next = next(self._pending, None)


def merge_checkpoints(*sources: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Merge sorted ``(size, note)`` streams (the log's own, and checkpoints a verifier held) by size."""
    return heapq.merge(*sources, key=lambda item: item[0])

