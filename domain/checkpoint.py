"""C2SP tlog-checkpoint bodies inside C2SP signed-note envelopes, signed with Ed25519.

A checkpoint commits the log to one RFC 9162 root at one size; a signed note lets anyone holding the
log's verifier key (vkey) check that commitment without trusting the server that relayed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import ProofError, Unavailable

#: Signature type byte for Ed25519 in C2SP signed-note.
ED25519_TYPE = b"\x01"

#: Signature lines start with an em dash (U+2014) and a space.
SIGNATURE_PREFIX = "\u2014 "

#: C2SP asks verifiers to cap signatures per note and to accept at least 16.
MAX_SIGNATURES = 100

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX8 = re.compile(r"[0-9a-f]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_ROOT_SIZE = 32


class LogInconsistent(Unavailable):
    """The log is shorter than, or does not extend, the latest checkpoint the ledger signed for it (it
    was cut short, rewritten or its stored tree altered): the ledger neither serves it nor signs
    another checkpoint for it (503, and one line at startup) until someone finds out what happened."""

    slug = "log-inconsistent"


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin line, tree size and RFC 9162 root, plus optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoteVerifier:
    """One Ed25519 key that may sign notes: the key name and 4-byte key hash select its signatures."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey


def format_checkpoint(cp: Checkpoint) -> str:
    """Return the checkpoint's note text ``origin\\nsize\\nbase64(root)\\n`` plus extension lines.

    Raises ValueError if the result would not parse back (empty or multi-line origin or extension,
    negative size, root not 32 bytes), so a log never signs a checkpoint verifiers would refuse.
    """
    text = f"{cp.origin}\n{cp.size}\n{_b64(cp.root)}\n" + "".join(f"{line}\n" for line in cp.extensions)
    try:
        if parse_checkpoint(text) != cp:
            raise ProofError("checkpoint does not survive formatting")
    except ProofError as error:
        raise ValueError(f"unformattable checkpoint: {error}") from error
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly per C2SP tlog-checkpoint; ProofError on any deviation.

    Precondition: ``text`` is the note text only (as ``verify_note`` returns), ending in a newline.
    """
    _require_clean_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise ProofError("checkpoint needs origin, size and root lines, none of them empty")
    origin, size, root, *extensions = lines
    if not _SIZE.fullmatch(size) or int(size) >= 1 << 64:
        raise ProofError(f"checkpoint size {size!r} is not a decimal uint64 without leading zeros")
    root_bytes = _strict_b64(root, "checkpoint root")
    if len(root_bytes) != _ROOT_SIZE:
        raise ProofError(f"checkpoint root has {len(root_bytes)} bytes, want {_ROOT_SIZE}")
    return Checkpoint(origin, int(size), root_bytes, tuple(extensions))


def key_hash(name: str, public_key_bytes: bytes) -> bytes:
    """Return the C2SP key ID: SHA-256(name || 0x0A || 0x01 || key)[:4], naming the key in signatures.

    Precondition: ``public_key_bytes`` is the 32-byte raw Ed25519 public key.
    """
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key_bytes).digest()[:4]


def vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """Return the verifier key ``<name>+<hex key ID>+<base64(0x01 || key)>`` that clients configure.

    Raises ValueError for a key name C2SP forbids (empty, with spaces or plus signs).
    """
    _require_key_name(name, ValueError)
    raw = _raw(public_key)
    return f"{name}+{key_hash(name, raw).hex()}+{_b64(ED25519_TYPE + raw)}"


def parse_vkey(text: str) -> NoteVerifier:
    """Parse an Ed25519 verifier key strictly, checking its key ID matches its name and key.

    Raises ProofError for any other shape, signature type or a mismatched key ID.
    """
    parts = text.split("+", 2)  # the base64 key may itself contain plus signs
    if len(parts) != 3:
        raise ProofError("a vkey is name+keyid+key")
    name, hex_id, encoded = parts
    _require_key_name(name, ProofError)
    if not _HEX8.fullmatch(hex_id):
        raise ProofError(f"vkey key ID {hex_id!r} is not 8 lowercase hex digits")
    material = _strict_b64(encoded, "vkey key")
    if len(material) != 33 or material[:1] != ED25519_TYPE:
        raise ProofError("vkey is not an Ed25519 key (type 0x01 and 32 bytes)")
    expected = key_hash(name, material[1:])
    if bytes.fromhex(hex_id) != expected:
        raise ProofError("vkey key ID does not match its name and key", expected, bytes.fromhex(hex_id))
    return NoteVerifier(name, expected, Ed25519PublicKey.from_public_bytes(material[1:]))


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Return ``text`` signed as a C2SP signed note: text, blank line, ``— <name> base64(id || sig)``.

    Precondition (ValueError otherwise): ``text`` is non-empty, ends in a newline, has no other
    control characters; ``name`` is a valid key name. The signature covers the UTF-8 of ``text``.
    """
    try:
        _require_clean_text(text)
    except ProofError as error:
        raise ValueError(str(error)) from error
    _require_key_name(name, ValueError)
    signature = private_key.sign(text.encode())
    key_id = key_hash(name, _raw(private_key.public_key()))
    return f"{text}\n{SIGNATURE_PREFIX}{name} {_b64(key_id + signature)}\n"


def verify_note(note: str, verifier: NoteVerifier) -> str:
    """Return the text of ``note`` once a signature by ``verifier`` checks, per C2SP signed-note.

    Signatures by other keys (name or key ID differing) are ignored; a malformed note, a failing
    signature by the verifier's key, or no signature by it at all raise ProofError.
    """
    text, signatures = _split_note(note)
    verified = False
    for name, blob in signatures:
        if name != verifier.name or blob[:4] != verifier.key_hash:
            continue
        try:
            verifier.public_key.verify(blob[4:], text.encode())
        except InvalidSignature as error:
            raise ProofError(f"signature by {name} does not verify over the note text") from error
        verified = True
    if not verified:
        raise ProofError(f"note carries no signature by {verifier.name}", expected=verifier.key_hash)
    return text


def sign_checkpoint(cp: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """Return the checkpoint as a signed note; C2SP suggests, without requiring, ``name == cp.origin``."""
    return sign_note(format_checkpoint(cp), name, private_key)


def verify_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """Return the checkpoint in a signed note after checking its signature; ProofError otherwise.

    The origin is not required to equal the key name; callers compare it with what they expect.
    """
    return parse_checkpoint(verify_note(note, verifier))


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The note text and its ``(key name, key ID || signature)`` pairs, unverified (for cosignatures,
    domain/cosignature); ProofError for a malformed note."""
    return _split_note(note)


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note at its last blank line into text and (key name, key ID || signature) pairs."""
    if not note.endswith("\n") or _CONTROL.search(note):
        raise ProofError("a signed note ends in a newline and has no other control characters")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise ProofError("signed note has no blank line before its signatures")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError(f"signed note has more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> tuple[str, bytes]:
    """Parse ``— <key name> <base64(key ID || signature)>``; ProofError if the line has another shape."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise ProofError(f"signature line does not start with an em dash and a space: {line!r}")
    parts = line[len(SIGNATURE_PREFIX) :].split(" ")
    if len(parts) != 2:
        raise ProofError("signature line is not '— <name> <signature>'")
    name, encoded = parts
    _require_key_name(name, ProofError)
    blob = _strict_b64(encoded, "signature")
    if len(blob) < 5:
        raise ProofError("signature is shorter than a key ID and one byte")
    return name, blob


def _require_clean_text(text: str) -> None:
    """Raise ProofError unless ``text`` ends in a newline and has no other control characters."""
    if not text.endswith("\n") or _CONTROL.search(text):
        raise ProofError("note text must end in a newline and contain no other control characters")


def _require_key_name(name: str, error: type[Exception]) -> None:
    """Raise ``error`` unless ``name`` is a C2SP key name: non-empty, no Unicode spaces, no plus."""
    if not name or "+" in name or any(char.isspace() for char in name):
        raise error(f"invalid key name {name!r}")


def _strict_b64(text: str, what: str) -> bytes:
    """Decode canonical standard base64 (RFC 4648 section 4), refusing anything that would not re-encode."""
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProofError(f"{what} is not standard base64") from error
    if _b64(decoded) != text:
        raise ProofError(f"{what} is not canonical base64")
    return decoded


def _b64(data: bytes) -> str:
    """Encode standard padded base64 as text."""
    return base64.b64encode(data).decode("ascii")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    """Return the 32-byte RFC 8032 encoding of an Ed25519 public key."""
    return public_key.public_bytes_raw()
