"""C2SP signed-note and tlog-checkpoint: the spec's own Ed25519 example, round trips, and refusals."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.checkpoint import (
    Checkpoint,
    format_checkpoint,
    key_hash,
    parse_checkpoint,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_note,
    vkey,
)
from domain.errors import ProofError

#: C2SP signed-note.md, section "Ed25519 / Example" (see <repo root>/../shared/testdata/README.md).
SIGNED_NOTE = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "signed-note.json"
FAST = settings(max_examples=200, deadline=None)
NAME = "ledger.example/log"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
VERIFIER = parse_vkey(vkey(NAME, KEY.public_key()))
CHECKPOINT = Checkpoint(NAME, 20852163, bytes(range(32)))

names = st.text(
    st.characters(
        codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"], exclude_characters="+\x85"
    ),
    min_size=1,
    max_size=30,
).filter(lambda name: not any(char.isspace() for char in name))
lines = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=30)
checkpoints = st.builds(
    Checkpoint,
    origin=lines,
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(lines, max_size=3).map(tuple),
)


def test_c2sp_example_note_verifies_with_its_vkey() -> None:
    vector = json.loads(SIGNED_NOTE.read_text())
    assert vector["must_verify"]
    verifier = parse_vkey(vector["vkey"])
    assert verifier.name == "example.com/foo"
    assert verifier.key_hash.hex() == "530d903a"
    assert verify_note(vector["note"], verifier) == "This is an example message.\n"
    assert vkey(verifier.name, verifier.public_key) == vector["vkey"]


def test_sign_then_verify_round_trip() -> None:
    note = sign_note("hello\n\nworld\n", NAME, KEY)
    assert note.startswith("hello\n\nworld\n\n\u2014 ledger.example/log ")
    assert verify_note(note, VERIFIER) == "hello\n\nworld\n"


def test_signature_line_carries_the_key_hash() -> None:
    note = sign_note("hello\n", NAME, KEY)
    blob = base64.b64decode(note.rsplit(" ", 1)[1])
    assert blob[:4] == VERIFIER.key_hash == key_hash(NAME, KEY.public_key().public_bytes_raw())
    assert len(blob) == 4 + 64


def test_any_altered_character_of_the_text_is_refused() -> None:
    text = format_checkpoint(CHECKPOINT)
    note = sign_checkpoint(CHECKPOINT, NAME, KEY)
    for position in range(len(text)):
        altered = note[:position] + chr(ord(note[position]) ^ 1) + note[position + 1 :]
        with pytest.raises(ProofError):
            verify_note(altered, VERIFIER)


def test_signature_by_another_key_is_refused() -> None:
    with pytest.raises(ProofError, match="no signature"):
        verify_note(sign_note("hello\n", NAME, OTHER_KEY), VERIFIER)


def test_another_keys_signature_under_our_key_id_is_refused() -> None:
    text = "hello\n"
    forged = base64.b64encode(VERIFIER.key_hash + OTHER_KEY.sign(text.encode())).decode()
    with pytest.raises(ProofError, match="does not verify"):
        verify_note(f"{text}\n\u2014 {NAME} {forged}\n", VERIFIER)


@pytest.mark.parametrize("cut", [4, 8, 40, 80])
def test_truncated_signature_is_refused(cut: int) -> None:
    note = sign_note("hello\n", NAME, KEY)
    with pytest.raises(ProofError):
        verify_note(note[: -1 - cut] + "\n", VERIFIER)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda note: note.replace("\n\n", "\n"),  # missing blank line
        lambda note: note[:-1],  # no final newline
        lambda note: note.replace("\u2014 ", "- "),  # not an em dash
        lambda note: note.replace("\u2014 ", "\u2014"),  # no space after the dash
        lambda note: note.replace("\n", "\r\n"),  # control characters
        lambda note: note + "\n",  # trailing blank line after the signatures
        lambda note: note.replace(" ", "  ", 2),  # two spaces in the signature line
        lambda note: note.rsplit("=", 1)[0] + "\n",  # base64 padding removed
    ],
)
def test_malformed_notes_are_refused(mangle: Callable[[str], str]) -> None:
    note = sign_note("hello\n", NAME, KEY)
    verify_note(note, VERIFIER)
    with pytest.raises(ProofError):
        verify_note(mangle(note), VERIFIER)


def test_signatures_by_unknown_keys_are_ignored() -> None:
    text = "hello\n"
    ours = sign_note(text, NAME, KEY).removeprefix(text + "\n")
    theirs = sign_note(text, "witness.example/w1", OTHER_KEY).removeprefix(text + "\n")
    same_name = sign_note(text, NAME, OTHER_KEY).removeprefix(text + "\n")
    assert verify_note(f"{text}\n{theirs}{same_name}{ours}", VERIFIER) == text


def test_sign_note_refuses_text_without_final_newline() -> None:
    with pytest.raises(ValueError):
        sign_note("hello", NAME, KEY)
    with pytest.raises(ValueError):
        sign_note("hello\n", "bad name", KEY)


def test_checkpoint_text_is_the_c2sp_layout() -> None:
    text = format_checkpoint(Checkpoint("example.com/log", 3, b"\x00" * 32, ("ext",)))
    assert text == "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n"


@FAST
@given(checkpoints)
def test_checkpoint_format_parse_round_trip(cp: Checkpoint) -> None:
    assert parse_checkpoint(format_checkpoint(cp)) == cp


@FAST
@given(checkpoints)
def test_signed_checkpoint_round_trip(cp: Checkpoint) -> None:
    assert verify_checkpoint(sign_checkpoint(cp, NAME, KEY), VERIFIER) == cp


@pytest.mark.parametrize(
    "text",
    [
        "log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no final newline
        "log\n3\n",  # no root
        "\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # empty origin
        "log\n03\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "log\n-3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # negative
        "log\n\u0663\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # non-ASCII digit
        f"log\n{2**64}\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # beyond uint64
        "log\n3\nAAAA\n",  # root too short
        "log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",  # non-canonical base64
        "log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",  # unpadded base64
        "log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",  # empty extension line
    ],
)
def test_bad_checkpoint_text_is_refused(text: str) -> None:
    with pytest.raises(ProofError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("", 1, bytes(32)),
        Checkpoint("two\nlines", 1, bytes(32)),
        Checkpoint("log", -1, bytes(32)),
        Checkpoint("log", 1, bytes(31)),
        Checkpoint("log", 1, bytes(32), ("",)),
    ],
)
def test_unformattable_checkpoints_are_programming_errors(cp: Checkpoint) -> None:
    with pytest.raises(ValueError):
        format_checkpoint(cp)


def test_checkpoint_signed_by_another_key_is_refused() -> None:
    with pytest.raises(ProofError):
        verify_checkpoint(sign_checkpoint(CHECKPOINT, NAME, OTHER_KEY), VERIFIER)


@FAST
@given(names, st.binary(min_size=32, max_size=32))
def test_vkey_round_trip(name: str, seed: bytes) -> None:
    public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    verifier = parse_vkey(vkey(name, public_key))
    assert verifier.name == name
    assert verifier.key_hash == key_hash(name, public_key.public_bytes_raw())
    assert verifier.public_key.public_bytes_raw() == public_key.public_bytes_raw()
    assert vkey(verifier.name, verifier.public_key) == vkey(name, public_key)


@pytest.mark.parametrize(
    "text",
    [
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong key ID
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # uppercase hex
        "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # other name
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # type byte 0x02
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U",  # short key
        "example.com/foo+530d903a",  # two parts
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # space in name
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # empty name
    ],
)
def test_bad_vkeys_are_refused(text: str) -> None:
    with pytest.raises(ProofError):
        parse_vkey(text)
