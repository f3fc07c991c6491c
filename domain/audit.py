"""Offline verification of the whole log: every entry, every signature, the tree and every checkpoint.

Verification is split in two so that the costly part runs on all cores:

* ``audit_chunk`` checks a run of consecutive entries on their own: the entry format, the leaf hash
  against the one the ledger recorded, and each record's DSSE signature by the key its entry names.
  It needs only the public key of every key id (which key history lists) and keeps nothing between
  chunks, so any process can check any chunk.
* ``Auditor`` consumes the chunk reports strictly in log order, in constant memory: it rebuilds the
  RFC 9162 tree with a CompactRange, replays the key history (which key belonged to which agency and
  from which entry to which it could sign), and checks each signed checkpoint's signature and root at
  its size. Two checkpoints whose roots both match the one recomputed tree are consistent: the older
  tree is a prefix of the newer.

The first problem, at the lowest leaf index, raises IntegrityFailure; nothing after it is trusted.
"""

from __future__ import annotations

import base64
import binascii
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
from domain.checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from domain.entries import ENTRY_VERSION
from domain.envelope import PAYLOAD_TYPE, pae
from domain.errors import IntegrityFailure, LedgerError
from domain.records import RECORD_NAMESPACE

#: Entry kinds that make up an agency's key history.
KEY_KINDS = ("agency_registered", "key_added", "key_revoked")


class EntryProblem(Exception):
    """Why one entry fails; ``audit_chunk`` attaches the index. Also raised by entry sources."""


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One step of an agency's key history, at leaf ``index``."""

    index: int
    kind: str
    agency: str
    keyid: str | None = None
    public_key: bytes | None = None


#: ``(index, agency, keyid)``: record entry ``index`` was signed by ``keyid`` on behalf of ``agency``.
#: A plain tuple, one per record, because chunk reports cross process boundaries by pickle.
KeyUse = tuple[int, str, str]


@dataclass(slots=True)
class ChunkReport:
    """What ``audit_chunk`` found in entries ``[start, start + len(leaf_hashes) // 32)``."""

    start: int
    leaf_hashes: bytes = b""
    key_events: list[KeyEvent] = field(default_factory=list)
    key_uses: list[KeyUse] = field(default_factory=list)
    failure: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class AuditResult:
    """A log that verified: its size and root, the checkpoints checked, and how far they reach."""

    size: int
    root: bytes
    checkpoints: int
    covered: int


def audit_chunk(
    start: int, entries: Iterable[tuple[bytes, bytes | None]], keys: Mapping[str, bytes]
) -> ChunkReport:
    """Check consecutive entries from leaf ``start``: each item is ``(entry bytes, recorded leaf hash
    or None)``; ``keys`` maps every key id to its raw public key. Stops at the first problem, which
    the ``entries`` iterable may raise itself (EntryProblem) for an entry it cannot produce."""
    report, hashes = ChunkReport(start), []
    checker = _EntryChecker(keys, report)
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

    def __init__(self, keys: Mapping[str, bytes], report: ChunkReport) -> None:
        self.keys = keys
        self.report = report
        self.parsed: dict[str, Ed25519PublicKey] = {}

    def check(self, index: int, entry: bytes, recorded: bytes | None) -> bytes:
        digest = merkle.leaf_hash(entry)
        if recorded is not None and digest != recorded:
            raise EntryProblem("the entry does not hash to the leaf hash the ledger recorded for it")
        data = read_entry(entry)
        kind = data["kind"]
        if kind == "record":
            self.record(index, data)
        elif kind in KEY_KINDS:
            self.key_event(index, kind, data)
        return digest

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
        self.report.key_uses.append((index, agency, keyid))

    def key_event(self, index: int, kind: str, data: dict) -> None:
        """An agency or key entry: check it belongs to its agency and matches the listed key history."""
        agency = _text(data, "agency")
        if data.get("originator") != _name_uuid(AGENCY_NAMESPACE, agency):
            raise EntryProblem(f"the {kind} entry's originator is not agency {agency}")
        if kind == "agency_registered":
            self.report.key_events.append(KeyEvent(index, kind, agency))
            return
        keyid = _text(data, "keyid")
        public_key = None
        if kind == "key_added":
            public_key = _b64(_text(data, "public_key"), "public_key")
            if len(public_key) != 32 or hashlib.sha256(public_key).hexdigest() != keyid:
                raise EntryProblem(f"key {keyid} is not the SHA-256 of a 32-byte Ed25519 public key")
            if self.keys.get(keyid) != public_key:
                raise EntryProblem(f"the key history lists another public key for key {keyid}")
        self.report.key_events.append(KeyEvent(index, kind, agency, keyid, public_key))

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


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise EntryProblem(f"the entry's {name} is missing or not a string")
    return value


def _b64(text: str, what: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise EntryProblem(f"the entry's {what} is not standard base64") from None


@dataclass(slots=True)
class _KeyState:
    agency: str
    added: int
    revoked: int | None = None


class Auditor:
    """Consumes chunk reports in log order and checks what needs the whole history (see module doc).

    ``checkpoints`` yields ``(size, signed note)`` by non-decreasing size; each note must verify with
    ``verifier``, name ``origin`` (default: the key name) and carry the recomputed root at its size.
    ``key_history``, when given, is a listed key history (an export's keys.jsonl) that must equal
    the key events of the log, one for one. ``on_checkpoint`` sees each verified checkpoint, so a
    caller can check its own copy of the tree against it (a problem there is an EntryProblem).
    """

    def __init__(
        self,
        verifier: NoteVerifier,
        checkpoints: Iterable[tuple[int, str]],
        origin: str | None = None,
        key_history: Iterable[KeyEvent] | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
    ) -> None:
        self.verifier = verifier
        self.origin = verifier.name if origin is None else origin
        self.tree = merkle.CompactRange()
        self.checkpoints = 0
        self.covered = 0
        self._pending: Iterator[tuple[int, str]] = iter(checkpoints)
        self._next = next(self._pending, None)
        self._history = None if key_history is None else iter(key_history)
        self._on_checkpoint = on_checkpoint
        self._agencies: set[str] = set()
        self._keys: dict[str, _KeyState] = {}
        self._check_checkpoints()

    def add(self, report: ChunkReport) -> None:
        """Take the next chunk's report; raises IntegrityFailure at the first failing leaf."""
        if report.start != self.tree.size:
            raise IntegrityFailure(self.tree.size, f"entries arrived out of order (chunk at {report.start})")
        items: dict[int, KeyEvent | KeyUse] = {e.index: e for e in report.key_events}
        items.update((use[0], use) for use in report.key_uses)
        hashes = report.leaf_hashes
        for offset in range(0, len(hashes), merkle.HASH_SIZE):
            index = self.tree.size
            item = items.get(index)
            if item is not None:
                try:
                    self._replay(item)
                except EntryProblem as problem:
                    raise IntegrityFailure(index, str(problem)) from None
            self.tree.append(hashes[offset : offset + merkle.HASH_SIZE])
            if self._next is not None and self._next[0] <= self.tree.size:
                self._check_checkpoints()
        if report.failure is not None:
            raise IntegrityFailure(*report.failure)

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
        return AuditResult(size, self.tree.root(), self.checkpoints, self.covered)

    def _replay(self, item: KeyEvent | KeyUse) -> None:
        """Apply one key event, or check one record's key was its agency's and unrevoked right here."""
        if isinstance(item, tuple):
            _, agency, keyid = item
            state = self._keys.get(keyid)
            if state is None or state.agency != agency:
                raise EntryProblem(f"key {keyid} was not registered to agency {agency} before this record")
            if state.revoked is not None:
                raise EntryProblem(f"key {keyid} was revoked at leaf {state.revoked}, before this record")
            return
        if self._history is not None and next(self._history, None) != item:
            raise EntryProblem(f"the listed key history differs from this {item.kind} entry")
        if item.kind == "agency_registered":
            if item.agency in self._agencies:
                raise EntryProblem(f"agency {item.agency} is registered a second time")
            self._agencies.add(item.agency)
        elif item.agency not in self._agencies:
            raise EntryProblem(f"agency {item.agency} changes keys before it is registered")
        elif item.kind == "key_added":
            if item.keyid in self._keys:
                raise EntryProblem(f"key {item.keyid} is added a second time")
            self._keys[item.keyid] = _KeyState(item.agency, item.index)
        else:
            state = self._keys.get(item.keyid)
            if state is None or state.agency != item.agency or state.revoked is not None:
                raise EntryProblem(f"key {item.keyid} is revoked but was not an unrevoked key of {item.agency}")
            state.revoked = item.index

    def _check_checkpoints(self) -> None:
        """Check every pending checkpoint of the current size; one of a smaller size came too late."""
        size = self.tree.size
        while self._next is not None and self._next[0] <= size:
            claimed, note = self._next
            where = max(claimed - 1, 0)
            if claimed < size:
                raise IntegrityFailure(where, f"checkpoint of size {claimed} is out of order")
            try:
                checkpoint = verify_checkpoint(note, self.verifier)
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


def key_event_of(index: int, entry: dict) -> KeyEvent:
    """The key history step that a decoded agency or key entry (kind in KEY_KINDS) records."""
    public_key = entry.get("public_key")
    return KeyEvent(
        index,
        entry["kind"],
        entry["agency"],
        entry.get("keyid"),
        None if public_key is None else base64.b64decode(public_key),
    )


def merge_checkpoints(*sources: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Merge sorted ``(size, note)`` streams (the log's own, and checkpoints a verifier held) by size."""
    return heapq.merge(*sources, key=lambda item: item[0])


def export_line(index: int, entry: bytes | None, leaf_hash: bytes | None, unreadable: str | None = None) -> str:
    """One line of an export's entries.jsonl: ``{"index", "entry", "leaf_hash"}``, hashes in base64.

    ``entry`` is None, with ``unreadable`` saying why, when the exporter could not read the stored
    event: the verifier then fails at this index.
    """
    line: dict[str, object] = {
        "index": index,
        "entry": None if entry is None else base64.b64encode(entry).decode("ascii"),
        "leaf_hash": None if leaf_hash is None else base64.b64encode(leaf_hash).decode("ascii"),
    }
    if unreadable is not None:
        line["unreadable"] = unreadable
    return json.dumps(line, separators=(",", ":"))


def parse_export_line(line: bytes | str, index: int) -> tuple[bytes, bytes | None]:
    """Read an entries.jsonl line that must be leaf ``index``; EntryProblem when it is not."""
    try:
        data = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
    except (ValueError, RecursionError):
        raise EntryProblem("the export line is not JSON") from None
    if not isinstance(data, dict) or data.get("index") != index:
        raise EntryProblem("the export line does not carry this index (indexes must be dense from 0)")
    if data.get("entry") is None:
        raise EntryProblem(f"the exporter could not read this entry: {data.get('unreadable', 'no reason given')}")
    entry = _b64(_text(data, "entry"), "export line's entry")
    recorded = data.get("leaf_hash")
    return entry, None if recorded is None else _b64(_text(data, "leaf_hash"), "export line's leaf_hash")


def key_event_line(event: KeyEvent) -> str:
    """One line of an export's keys.jsonl, the agency key history."""
    line: dict[str, object] = {"index": event.index, "kind": event.kind, "agency": event.agency}
    if event.keyid is not None:
        line["keyid"] = event.keyid
    if event.public_key is not None:
        line["public_key"] = base64.b64encode(event.public_key).decode("ascii")
    return json.dumps(line, separators=(",", ":"))


def parse_key_event_line(line: bytes | str) -> KeyEvent:
    """Read a keys.jsonl line back; EntryProblem when it is malformed."""
    try:
        data = json.loads(line)
        public_key = data.get("public_key")
        return KeyEvent(
            int(data["index"]),
            str(data["kind"]),
            str(data["agency"]),
            data.get("keyid"),
            None if public_key is None else base64.b64decode(public_key, validate=True),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error):
        raise EntryProblem("a key history line is malformed") from None
