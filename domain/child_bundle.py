"""One child's evidence bundle: that child's entries, each proved in one signed checkpoint.

An inquiry into one child must not receive every child's records (issue 14). A bundle holds only
the entries about the child (its records, as the identities joined to it at the moment asked
about name them; the identity links and unlinks touching those identities; withdrawals of its
records' joins; decisions on its prompts; the lookups of it), plus the agency and checkpoint key
history entries needed to check their signatures, which name no child. Each entry comes with its
RFC 9162 inclusion proof against the one checkpoint the bundle carries, so it is checked offline
without any other entry of the log (docs/log-format.md, "One child's evidence bundle").

``verify_child_bundle`` checks each entry as ``ledger verify`` checks a whole log (domain/audit:
leaf hash, entry format, each record's DSSE signature by the key it names, every other entry's
ledger signature, the agencies' key history replayed in log order), each inclusion proof, the
checkpoint's signature under the key in force at its size, and that every entry that is not key
history is about the child the manifest names. What it cannot check offline is that nothing about
the child was left out: only the whole log can say that.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from domain import merkle
from domain.agency_history import KEY_KINDS, AgencyHistory, EntryProblem, FlaggedKey
from domain.audit import audit_chunk, read_entry
from domain.checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from domain.checkpoint_keys import ENTRY_KIND as ROTATION_KIND
from domain.checkpoint_keys import follow, rotation_of_entry
from domain.errors import IntegrityFailure, LedgerError, ProofError
from domain.links import identity_keys, record_identifiers
from domain.records import parse_payload

BUNDLE_KIND = "safeguarding-ledger-child-bundle"
VERSION = 1
#: Entries a bundle carries to check signatures with: they name agencies and keys, never a child.
KEY_HISTORY_KINDS = (*KEY_KINDS, ROTATION_KIND)
MAX_PROOF = 64


class BundleProblem(LedgerError):
    """A bundle that is malformed or whose manifest, checkpoint or key does not hold."""

    slug = "bundle-failed"


@dataclass(frozen=True, slots=True)
class BundleLeaf:
    """One entry of a bundle: its leaf index, its bytes, the leaf hash the ledger stored for it and
    its inclusion proof in the bundle's checkpoint."""

    index: int
    entry: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]

    def as_json(self) -> dict:
        return {"index": self.index, "entry": _b64(self.entry), "leaf_hash": _b64(self.leaf_hash),
                "proof": [_b64(node) for node in self.proof]}  # fmt: skip


@dataclass(frozen=True)
class ChildBundle:
    """A bundle as one JSON document (the endpoint's answer) or as files (``ledger export --child``):
    ``manifest.json``, ``entries.jsonl`` (one ``BundleLeaf`` a line), ``checkpoint``, ``log.vkey``."""

    manifest: dict
    leaves: list[BundleLeaf]
    checkpoint: str
    vkey: str

    def as_json(self) -> dict:
        return {"manifest": self.manifest, "entries": [leaf.as_json() for leaf in self.leaves],
                "checkpoint": self.checkpoint, "vkey": self.vkey}  # fmt: skip


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that checked: whose it is, how many of its entries are the child's, the checkpoint."""

    child: str
    entries: int
    key_history: int
    checkpoint: Checkpoint
    flagged_keys: tuple[FlaggedKey, ...] = ()
    notes: list[str] = field(default_factory=list)


def manifest(origin: str, child: dict, as_of: str | None, checkpoint: Checkpoint, leaves: Sequence[BundleLeaf],
             key_history: Iterable[int]) -> dict:  # fmt: skip
    """The manifest: the bundle kind, the child (``id``, every ``ids`` it was shown under, its
    ``identifiers`` as known at ``as_of``), the moment, the checkpoint, and the leaves included."""
    return {
        "format": BUNDLE_KIND,
        "version": VERSION,
        "entry_format": 1,
        "origin": origin,
        "child": child,
        "as_of": as_of,
        "checkpoint": {"size": checkpoint.size, "root": _b64(checkpoint.root)},
        "leaves": [leaf.index for leaf in leaves],
        "key_history": sorted(key_history),
    }


def parse_leaf(data: object) -> BundleLeaf:
    """An ``entries.jsonl`` line (decoded) or an item of the JSON bundle's ``entries``."""
    if not isinstance(data, dict) or type(data.get("index")) is not int or not isinstance(data.get("proof"), list):
        raise BundleProblem("an entry of the bundle lacks its index, entry, leaf_hash or proof")
    if len(data["proof"]) > MAX_PROOF:
        raise IntegrityFailure(data["index"], "the inclusion proof is longer than any tree's")
    try:
        return BundleLeaf(data["index"], _unb64(data.get("entry")), _unb64(data.get("leaf_hash")),
                          tuple(_unb64(node) for node in data["proof"]))  # fmt: skip
    except ValueError:
        raise IntegrityFailure(data["index"], "the entry, leaf hash or proof is not standard base64") from None


def parse_bundle(data: object) -> ChildBundle:
    """A bundle from its JSON form; BundleProblem when it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("manifest"), dict) or type(data.get("entries")) is not list:
        raise BundleProblem(f"not a {BUNDLE_KIND} document")
    if not isinstance(data.get("checkpoint"), str) or not isinstance(data.get("vkey"), str):
        raise BundleProblem("the bundle lacks its checkpoint or vkey")
    return ChildBundle(data["manifest"], [parse_leaf(item) for item in data["entries"]], data["checkpoint"], data["vkey"])


def verify_child_bundle(bundle: ChildBundle, verifier: NoteVerifier) -> VerifiedBundle:
    """Check a bundle offline with a verifier key of the log (see module doc). IntegrityFailure
    names the first entry that fails; BundleProblem a manifest, checkpoint or key that does not."""
    man = bundle.manifest
    if man.get("format") != BUNDLE_KIND or man.get("version") != VERSION:
        raise BundleProblem(f"the manifest is not of a {BUNDLE_KIND} of version {VERSION}")
    child = _Child(man.get("child"), man.get("as_of"))
    indexes = [leaf.index for leaf in bundle.leaves]
    if indexes != man.get("leaves") or indexes != sorted(set(indexes)):
        raise BundleProblem("the entries are not the leaves the manifest lists, each once in ascending order")
    entries = {leaf.index: _entry(leaf) for leaf in bundle.leaves}
    checkpoint, history = _checkpoint(bundle, verifier, entries)
    checker = _LeafChecker(checkpoint, _agency_keys(entries.values()),
                           tuple(key.public_key.public_bytes_raw() for key in history.keys))  # fmt: skip
    listed = []
    for leaf in bundle.leaves:
        checker.check(leaf)
        if entries[leaf.index]["kind"] in KEY_HISTORY_KINDS:
            listed.append(leaf.index)
        else:
            child.require_about(leaf.index, entries[leaf.index])
    if listed != man.get("key_history"):
        raise BundleProblem("the manifest's key_history is not the bundle's key history entries")
    notes = [f"{checker.unsigned} entries carry no ledger signature: written before the ledger signed its entries"]
    return VerifiedBundle(child.id, len(indexes) - len(listed), len(listed), checkpoint, checker.agencies.flagged(),
                          notes if checker.unsigned else [])  # fmt: skip


class _LeafChecker:
    """Each leaf in turn, in leaf order: its proof, the checks ``ledger verify`` makes of an entry
    on its own (domain/audit ``audit_chunk``), and the agencies' key history replayed up to it."""

    def __init__(self, checkpoint: Checkpoint, keys: dict[str, bytes], ledger_keys: tuple[bytes, ...]) -> None:
        self.checkpoint, self.keys, self.ledger_keys = checkpoint, keys, ledger_keys
        self.agencies = AgencyHistory()
        self.signed_from: int | None = None  # the first leaf of the bundle the ledger signed
        self.unsigned = 0

    def check(self, leaf: BundleLeaf) -> None:
        try:
            merkle.verify_inclusion(leaf.leaf_hash, leaf.index, self.checkpoint.size, leaf.proof, self.checkpoint.root)
        except ProofError:
            raise IntegrityFailure(leaf.index, "its inclusion proof does not lead to the checkpoint's root") from None
        report = audit_chunk(leaf.index, [(leaf.entry, leaf.leaf_hash)], self.keys, self.ledger_keys)
        if report.failure is not None:
            raise IntegrityFailure(*report.failure)
        if report.unsigned and self.signed_from is not None:
            raise IntegrityFailure(leaf.index, "the entry carries no ledger signature, though the ledger signed leaf "
                                               f"{self.signed_from} before it: it was not written by the ledger")  # fmt: skip
        self.unsigned += len(report.unsigned)
        if self.signed_from is None:
            self.signed_from = report.signed_from
        try:
            for event in report.key_events:
                self.agencies.apply(event)
            for use in report.key_uses:
                self.agencies.use(use)
        except EntryProblem as problem:  # the key history so far does not allow this step
            raise IntegrityFailure(leaf.index, str(problem)) from None


def _agency_keys(entries: Iterable[dict]) -> dict[str, bytes]:
    """Every agency key the bundle's key_added entries list, by key id (a malformed one is left
    out: the entry then fails its own check, at its leaf)."""
    keys = {}
    for data in entries:
        if data.get("kind") == "key_added" and isinstance(data.get("keyid"), str):
            try:
                keys[data["keyid"]] = _unb64(data.get("public_key"))
            except ValueError:
                continue
    return keys


def _entry(leaf: BundleLeaf) -> dict:
    """The decoded entry, or IntegrityFailure at its leaf."""
    try:
        return read_entry(leaf.entry)
    except EntryProblem as problem:
        raise IntegrityFailure(leaf.index, str(problem)) from None


def _checkpoint(bundle: ChildBundle, verifier: NoteVerifier, entries: dict[int, dict]):
    """The checkpoint, verified under the key in force at its size (following the rotations the
    bundle carries from ``verifier``), and the checkpoint key history; it must be the manifest's."""
    rotations = [rotation_of_entry(index, data) for index, data in entries.items() if data["kind"] == ROTATION_KIND]
    history = follow(verifier, rotations)
    claimed = bundle.manifest.get("checkpoint")
    if not isinstance(claimed, dict) or type(claimed.get("size")) is not int:
        raise BundleProblem("the manifest names no checkpoint size")
    try:
        checkpoint = verify_checkpoint(bundle.checkpoint, history.verifier_for(claimed["size"]))
    except LedgerError as error:
        raise BundleProblem(f"the checkpoint does not verify: {error}") from None
    if checkpoint.origin != bundle.manifest.get("origin"):
        raise BundleProblem(f"the checkpoint is of log {checkpoint.origin!r}, not the manifest's")
    if checkpoint.size != claimed["size"] or _b64(checkpoint.root) != claimed.get("root"):
        raise BundleProblem("the checkpoint is not the one the manifest names")
    if any(index >= checkpoint.size for index in entries):
        raise BundleProblem("the bundle holds an entry beyond its checkpoint")
    return checkpoint, history


class _Child:
    """The child the manifest names, and the rule that each entry is about that child."""

    def __init__(self, named: object, as_of: object) -> None:
        if not isinstance(named, dict) or not isinstance(named.get("id"), str):
            raise BundleProblem("the manifest names no child")
        ids, identifiers = named.get("ids"), named.get("identifiers")
        if not isinstance(ids, list) or not isinstance(identifiers, list) or named["id"] not in ids:
            raise BundleProblem("the manifest lacks the child's ids or identifiers")
        if as_of is not None and not isinstance(as_of, str):
            raise BundleProblem("the manifest's as_of is not a moment")
        self.id, self.ids, self.as_of = named["id"], set(ids), as_of
        self.keys = {key for item in identifiers for key in _identity_keys(item)}
        self.records: set[tuple[str, str]] = set()
        self.links: set[str] = set()

    def require_about(self, index: int, data: dict) -> None:
        """IntegrityFailure unless the entry is about the child and (with as_of) recorded by then."""
        if self.as_of is not None and not (isinstance(data.get("at"), str) and data["at"] <= self.as_of):
            raise IntegrityFailure(index, f"the entry was recorded after the bundle's as_of {self.as_of}")
        if not self._about(data):
            raise IntegrityFailure(index, f"the {data['kind']} entry is not about child {self.id}")

    def _about(self, data: dict) -> bool:
        kind = data["kind"]
        if kind == "record":
            return self._record(data)
        if kind == "identity_linked":
            named = self._named(data.get("identifiers"))
            if named:
                self.links.add(data.get("originator"))
            return named
        if kind == "identity_unlinked":
            return data.get("originator") in self.links
        if kind == "record_link_withdrawn":
            return (data.get("agency"), data.get("record_id")) in self.records
        if kind == "prompt_decision":
            return data.get("child_id") in self.ids
        if kind == "access":
            return data.get("child") in self.ids
        return False

    def _record(self, data: dict) -> bool:
        """A record naming one of the child's identities, or one amending the child's record that
        names none (a retraction belongs to the record it retracts)."""
        try:
            payload = parse_payload(json.loads(base64.b64decode(data["envelope"]["payload"])))
        except (LedgerError, ValueError, KeyError, TypeError, RecursionError):
            return False
        named = identity_keys(record_identifiers(payload.subject, payload.same_child))
        about = bool(self.keys.intersection(named)) or (
            not named and payload.amends is not None and (payload.agency, payload.amends) in self.records
        )
        if about:
            self.records.add((payload.agency, payload.record_id))
        return about

    def _named(self, identifiers: object) -> bool:
        if not isinstance(identifiers, list):
            return False
        return bool(self.keys.intersection(key for item in identifiers for key in _identity_keys(item)))


def _identity_keys(item: object) -> list[str]:
    """The identity keys (domain/identifiers ``strong_keys``) of an identifier object as entries
    and manifests spell it: ``nhs:``, ``upn:``, ``local:<agency>:``; none for anything else."""
    if not isinstance(item, dict):
        return []
    text = {name: value for name, value in item.items() if isinstance(value, str)}
    found = [f"nhs:{text['nhs_number']}"] if "nhs_number" in text else []
    found += [f"upn:{text['upn']}"] if "upn" in text else []
    if "local_id" in text and "agency" in text:
        found.append(f"local:{text['agency']}:{text['local_id']}")
    return found


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
