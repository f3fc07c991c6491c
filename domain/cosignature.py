"""Witness cosignatures of checkpoints: C2SP tlog-cosignature, Ed25519 ``cosignature/v1``.

A witness that checked a checkpoint is consistent with every earlier one it saw signs it with its
own key; the signature line is appended to the checkpoint's signed note (C2SP signed-note allows
several). A client that trusts K of N witnesses then knows the ledger showed everybody the same
log: a rewritten log would need the witnesses' keys too.

The signed message is ``cosignature/v1\\ntime <POSIX seconds>\\n`` followed by the checkpoint's note
text; the signature is ``key ID (4) || timestamp (8, big-endian) || Ed25519 signature (64)``, and
the key ID is SHA-256(name || 0x0A || 0x04 || public key)[:4]. Cosigner vkeys use type 0x04.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.checkpoint import SIGNATURE_PREFIX, split_note
from domain.errors import ProofError

#: Signature type byte of timestamped Ed25519 cosignatures (C2SP signed-note, tlog-cosignature).
COSIGNATURE_TYPE = b"\x04"
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
_BLOB = 4 + 8 + 64


@dataclass(frozen=True)
class Cosigner:
    """A witness as a client configures it: its name, key ID and Ed25519 public key."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    @property
    def vkey(self) -> str:
        return cosigner_vkey(self.name, self.public_key)


@dataclass(frozen=True)
class Cosignature:
    """One verified cosignature: who, when (POSIX seconds), and its signature line as it travels."""

    witness: str
    timestamp: int
    line: str


def cosigner_key_hash(name: str, public_key_bytes: bytes) -> bytes:
    """SHA-256(name || "\\n" || 0x04 || 32-byte key)[:4]: the key ID of an Ed25519 cosigner."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + public_key_bytes).digest()[:4]


def cosigner_vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The witness's vkey ``<name>+<hex key ID>+<base64(0x04 || key)>``; ValueError for a bad name."""
    _require_name(name, ValueError)
    raw = public_key.public_bytes_raw()
    return f"{name}+{cosigner_key_hash(name, raw).hex()}+{_b64(COSIGNATURE_TYPE + raw)}"


def parse_cosigner_vkey(text: str) -> Cosigner:
    """A witness vkey, strictly: type 0x04, 32 bytes, a key ID matching name and key; ProofError."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ProofError("a witness vkey is name+keyid+key")
    name, hex_id, encoded = parts
    _require_name(name, ProofError)
    material = _strict_b64(encoded, "witness vkey key")
    if len(material) != 33 or material[:1] != COSIGNATURE_TYPE:
        raise ProofError("a witness vkey holds an Ed25519 cosigner key (type 0x04 and 32 bytes)")
    expected = cosigner_key_hash(name, material[1:])
    if hex_id != expected.hex():
        raise ProofError("witness vkey key ID does not match its name and key")
    return Cosigner(name, expected, Ed25519PublicKey.from_public_bytes(material[1:]))


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosignature signs: the header line, the time line, then the checkpoint note text."""
    if not 0 < timestamp <= MAX_TIMESTAMP:
        raise ProofError(f"cosignature timestamp {timestamp} is out of range")
    return f"{HEADER}time {timestamp}\n{text}".encode()


def cosign(text: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The signature line ``— <name> base64(key ID || timestamp || signature)\\n`` over ``text``
    (a checkpoint's note text, its signatures excluded), made at ``timestamp``."""
    _require_name(name, ValueError)
    signature = private_key.sign(cosigned_message(text, timestamp))
    key_id = cosigner_key_hash(name, private_key.public_key().public_bytes_raw())
    return f"{SIGNATURE_PREFIX}{name} {_b64(key_id + struct.pack('>Q', timestamp) + signature)}\n"


def cosignatures(note: str, cosigners: Iterable[Cosigner]) -> list[Cosignature]:
    """The cosignatures in ``note`` by the given witnesses, each verified; lines of other keys are
    ignored (C2SP signed-note). A line whose name and key ID are a known witness's but whose
    signature fails makes the whole note suspect: ProofError."""
    text, signatures = split_note(note)
    known = {(c.name, c.key_hash): c for c in cosigners}
    found: dict[str, Cosignature] = {}
    for name, blob in signatures:
        cosigner = known.get((name, blob[:4]))
        if cosigner is None:
            continue
        if len(blob) != _BLOB:
            raise ProofError(f"the cosignature by {name} is not a key ID, a timestamp and an Ed25519 signature")
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        try:
            cosigner.public_key.verify(blob[12:], cosigned_message(text, timestamp))
        except InvalidSignature:
            raise ProofError(f"the cosignature by {name} does not verify over the checkpoint") from None
        found.setdefault(name, Cosignature(name, timestamp, f"{SIGNATURE_PREFIX}{name} {_b64(blob)}\n"))
    return list(found.values())


def with_cosignatures(note: str, lines: Iterable[str]) -> str:
    """``note`` with signature lines appended (each ``— name sig\\n``), skipping any it carries."""
    present = set(note.split("\n"))
    return note + "".join(line for line in lines if line.rstrip("\n") not in present)


def require_quorum(note: str, witnesses: Mapping[str, Cosigner], required: int) -> list[Cosignature]:
    """At least ``required`` of the named ``witnesses`` cosigned ``note``; ProofError otherwise.

    The caller has verified the log's own signature on the note already."""
    found = cosignatures(note, witnesses.values())
    if len(found) < required:
        names = ", ".join(sorted(c.witness for c in found)) or "none"
        raise ProofError(f"{len(found)} of the {len(witnesses)} named witnesses cosigned ({names}); {required} required")
    return found


def witness_quorum(options: Iterable[str], required: int | None, notes: Iterable[tuple[int, str]]) -> str:
    """``ledger verify --witness NAME=VKEY ... --witnesses K``: the largest of ``notes`` (checkpoints
    whose log signature and root the caller verified) that K of the named witnesses cosigned, as
    one line to print; ProofError when none was. K defaults to every witness named."""
    witnesses = dict(parse_witness_option(text) for text in options)
    k = len(witnesses) if required is None else required
    if k > len(witnesses):
        raise ProofError(f"{k} cosignatures are required but only {len(witnesses)} witnesses are named")
    best: tuple[int, list[Cosignature]] | None = None
    for size, note in notes:
        found = cosignatures(note, witnesses.values())
        if len(found) >= k and (best is None or size >= best[0]):
            best = (size, found)
    if best is None:
        raise ProofError(f"no checkpoint of this log is cosigned by {k} of the {len(witnesses)} witnesses named")
    names = ", ".join(sorted(c.witness for c in best[1]))
    return f"witnessed: the checkpoint of size {best[0]} is cosigned by {len(best[1])} of {len(witnesses)} ({names})"


def parse_witness_option(text: str) -> tuple[str, Cosigner]:
    """``NAME=VKEY`` as given to ``--witness``: a local label for the witness and its vkey."""
    label, sep, key = text.partition("=")
    if not sep or not label:
        raise ProofError("a witness is given as NAME=VKEY")
    return label, parse_cosigner_vkey(key)


def _require_name(name: str, error: type[Exception]) -> None:
    if not name or "+" in name or any(char.isspace() for char in name) or not name.isprintable():
        raise error(f"invalid witness name {name!r}")


def _strict_b64(text: str, what: str) -> bytes:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"{what} is not standard base64") from None
    if _b64(decoded) != text:
        raise ProofError(f"{what} is not canonical base64")
    return decoded


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
