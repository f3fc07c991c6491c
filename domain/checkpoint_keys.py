"""The history of the ledger's checkpoint key: rotations are log entries, signed by the old key.

A checkpoint key may have to be replaced (a new machine, a suspected leak). The replacement is a
statement, a C2SP signed note signed by the old key and by the new one::

    safeguarding-ledger checkpoint key rotation v1
    <origin>
    old <old vkey>
    new <new vkey>

appended to the log as a ``checkpoint_key_rotated`` entry at leaf ``r``. Checkpoints that do not
cover it (size <= r) are signed by the old key, those that do (size > r) by the new one. Whoever
holds any one key of the history follows it: each step is signed by the key before it, and every
step is in the log that the later keys' checkpoints commit to. The statement's second line is not
a number, so it can never be mistaken for a checkpoint signed by the same key.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.domain import Aggregate, event

from domain.agencies import name_uuid
from domain.checkpoint import NoteVerifier, parse_vkey, sign_note, verify_note, vkey
from domain.errors import IntegrityFailure, LedgerError, ProofError

ENTRY_KIND = "checkpoint_key_rotated"
HEADER = "safeguarding-ledger checkpoint key rotation v1"
KEYS_NAMESPACE = uuid.UUID("2f0e4c9a-8d1b-5e3f-a6c7-9b2d4e6f8a10")
_KIND_MARK = b'"kind":"' + ENTRY_KIND.encode() + b'"'


def keys_aggregate_id(origin: str) -> uuid.UUID:
    """The id of the log's one CheckpointKeys aggregate, derived from its origin."""
    return name_uuid(KEYS_NAMESPACE, origin)


def rotation_statement(origin: str, old_key: Ed25519PrivateKey, new_key: Ed25519PrivateKey) -> tuple[str, str, str]:
    """``(old vkey, new vkey, statement)``: the statement signed by the old key, then the new one."""
    old_vkey, new_vkey = vkey(origin, old_key.public_key()), vkey(origin, new_key.public_key())
    if old_vkey == new_vkey:
        raise LedgerError("the new checkpoint key is the key in use")
    text = f"{HEADER}\n{origin}\nold {old_vkey}\nnew {new_vkey}\n"
    by_old = sign_note(text, origin, old_key)
    by_new = sign_note(text, origin, new_key).removeprefix(text + "\n")
    return old_vkey, new_vkey, by_old + by_new


class CheckpointKeys(Aggregate):
    """The log's checkpoint key history; one aggregate per origin, created by the first rotation."""

    TOPIC = "safeguarding-ledger:CheckpointKeys"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:CheckpointKeys.Created"

    class FirstRotated(Aggregate.Created):
        """The first rotation of the key the log started with."""

        TOPIC = "safeguarding-ledger:CheckpointKeys.FirstRotated.v1"
        ENTRY_KIND = ENTRY_KIND
        origin: str
        old_vkey: str
        new_vkey: str
        statement: str

        def entry_fields(self) -> dict:
            return _fields(self)

    class Rotated(Aggregate.Event):
        """A later rotation."""

        TOPIC = "safeguarding-ledger:CheckpointKeys.Rotated.v1"
        ENTRY_KIND = ENTRY_KIND
        origin: str
        old_vkey: str
        new_vkey: str
        statement: str

        def entry_fields(self) -> dict:
            return _fields(self)

    @staticmethod
    def create_id(origin: str, **_: object) -> uuid.UUID:
        return keys_aggregate_id(origin)

    @event(FirstRotated)
    def __init__(self, origin: str, old_vkey: str, new_vkey: str, statement: str) -> None:
        self.origin = origin
        self.current = new_vkey

    def rotate(self, old_vkey: str, new_vkey: str, statement: str) -> None:
        """Replace the key in force, which must be ``old_vkey``."""
        if old_vkey != self.current:
            raise LedgerError("only the checkpoint key in force can hand over to a new one")
        self._rotated(origin=self.origin, old_vkey=old_vkey, new_vkey=new_vkey, statement=statement)

    @event(Rotated)
    def _rotated(self, origin: str, old_vkey: str, new_vkey: str, statement: str) -> None:
        self.current = new_vkey


def _fields(rotated) -> dict:
    return {"origin": rotated.origin, "old_vkey": rotated.old_vkey, "new_vkey": rotated.new_vkey,
            "statement": rotated.statement}  # fmt: skip


#: Every topic a rotation is stored under (for a pre-pass over the event store by topic).
TOPICS = (CheckpointKeys.FirstRotated.TOPIC, CheckpointKeys.Rotated.TOPIC)


@dataclass(frozen=True)
class Rotation:
    """A rotation entry at leaf ``index``, as read from the log."""

    index: int
    origin: str
    old_vkey: str
    new_vkey: str
    statement: str


def rotation_of_entry(index: int, entry: dict) -> Rotation:
    """The rotation a decoded ``checkpoint_key_rotated`` entry records; IntegrityFailure if malformed."""
    values = [entry.get(name) for name in ("origin", "old_vkey", "new_vkey", "statement")]
    if not all(isinstance(value, str) for value in values):
        raise IntegrityFailure(index, "the checkpoint key rotation lacks its origin, keys or statement")
    return Rotation(index, *values)


def check_rotation(rotation: Rotation) -> tuple[NoteVerifier, NoteVerifier]:
    """The old and new verifiers of a rotation whose statement both keys signed; ProofError otherwise."""
    old, new = parse_vkey(rotation.old_vkey), parse_vkey(rotation.new_vkey)
    if old.name != rotation.origin or new.name != rotation.origin:
        raise ProofError("a rotation's keys must both be named by the log's origin")
    text = f"{HEADER}\n{rotation.origin}\nold {rotation.old_vkey}\nnew {rotation.new_vkey}\n"
    for verifier in (old, new):
        if verify_note(rotation.statement, verifier) != text:
            raise ProofError("the rotation statement does not say what its entry says")
    return old, new


class KeyHistory:
    """Which checkpoint key signs a checkpoint of each size: ``verifier_for(size)``."""

    def __init__(self, keys: Sequence[NoteVerifier], rotations: Sequence[Rotation]) -> None:
        self.keys = list(keys)
        self.rotations = list(rotations)

    @property
    def latest(self) -> NoteVerifier:
        return self.keys[-1]

    def verifier_for(self, size: int) -> NoteVerifier:
        """The key in force for a checkpoint of ``size``: after every rotation it covers."""
        return self.keys[sum(1 for rotation in self.rotations if rotation.index < size)]


def follow(held: NoteVerifier, rotations: Iterable[Rotation]) -> KeyHistory:
    """The key history the log's rotations make, which must contain ``held`` (a key the verifier
    obtained independently, from any time). IntegrityFailure names the first rotation that breaks
    the chain: not signed by the key before it, or by its new key, or the held key is not in it."""
    ordered = sorted(rotations, key=lambda rotation: rotation.index)
    if not ordered:
        return KeyHistory([held], [])
    keys: list[NoteVerifier] = []
    for rotation in ordered:
        try:
            old, new = check_rotation(rotation)
        except ProofError as error:
            raise IntegrityFailure(rotation.index, f"checkpoint key rotation: {error}") from None
        if keys and not _same(keys[-1], old):
            raise IntegrityFailure(rotation.index, "checkpoint key rotation does not start from the key in force")
        keys[len(keys):] = [old, new] if not keys else [new]
    if not any(_same(held, key) for key in keys):
        raise IntegrityFailure(ordered[-1].index, "the verifier key given is none of the log's checkpoint keys")
    return KeyHistory(keys, ordered)


def _same(one: NoteVerifier, other: NoteVerifier) -> bool:
    return (one.name, one.public_key.public_bytes_raw()) == (other.name, other.public_key.public_bytes_raw())


def rotations_in_export(lines: Iterable[bytes]) -> list[Rotation]:
    """The rotations among an export's entries.jsonl lines, found without decoding every entry in
    full: an entry's kind follows its fixed-width ``at`` in the first bytes of canonical JSON. A
    line that is not as the exporter writes it is decoded in full (the main pass judges it)."""
    found = []
    for line in lines:
        start = line.find(b'"entry":"')
        try:
            if start >= 0:
                head = base64.b64decode(line[start + 9 : start + 9 + 120])
                if _KIND_MARK not in head:
                    continue
            data = json.loads(line)
            entry = json.loads(base64.b64decode(data["entry"], validate=True))
        except (ValueError, KeyError, TypeError, binascii.Error):
            continue
        if isinstance(entry, dict) and entry.get("kind") == ENTRY_KIND and isinstance(data.get("index"), int):
            found.append(rotation_of_entry(data["index"], entry))
    return found
