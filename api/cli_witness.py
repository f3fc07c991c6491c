"""``ledger witness ...``: an independent witness of the log, and the admin's list of witnesses.

``ledger witness run --url URL --state FILE --key FILE --name NAME [--once | --interval S]`` is a
C2SP tlog-witness turned around: it fetches the ledger's latest checkpoint over HTTP, checks its
signature with the log's vkey (pinned in the state file at first use, or given with ``--vkey``; a
changed key is refused unless a rotation signed by the pinned key leads to it), checks an RFC 9162
consistency proof from the checkpoint it cosigned last, records the new one in its state file
(written atomically, mode 0600) and only then cosigns it (C2SP tlog-cosignature, Ed25519
``cosignature/v1``) and hands the cosignature in (``POST /v1/log/cosignatures``). A checkpoint
that is not consistent (a rewritten or truncated log) is never cosigned: both checkpoints are
printed as evidence and the witness exits with status 1.

``ledger witness keygen`` makes a witness key and prints its vkey; ``ledger witness add --vkey``
(an administrator, at the ledger) registers it, ``remove`` and ``list`` manage the list.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from api.cli import EXIT_REFUSED, open_ledger
from api.http_client import LedgerClient
from api.keyfiles import read_private_key, write_private_key
from api.usecases.admin import COMMAND_LINE
from domain import merkle
from domain.checkpoint import Checkpoint, parse_vkey, split_note, verify_checkpoint, vkey
from domain.checkpoint_keys import Rotation, follow
from domain.cosignature import cosign, cosigner_vkey
from domain.errors import IntegrityFailure, LedgerError, ProofError, Unavailable

STATE_VERSION = 1
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162: the empty tree's root


class Inconsistent(Exception):
    """The served checkpoint contradicts the one this witness cosigned: evidence, never cosigned."""

    def __init__(self, reason: str, old_note: str, new_note: str) -> None:
        super().__init__(reason)
        self.old_note, self.new_note = old_note, new_note


@dataclass
class WitnessState:
    """What a witness keeps between runs: the log's pinned vkey and the checkpoint it cosigned last."""

    log_vkey: str | None = None
    size: int = 0
    root: bytes | None = None
    checkpoint: str | None = None
    cosignature: str | None = None

    @classmethod
    def load(cls, path: Path) -> WitnessState:
        """The state in ``path``, or a fresh one if there is no file; a damaged file is refused
        (starting afresh would forget the checkpoint that holds the log to its past)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except ValueError:
            raise LedgerError(f"the witness state {path} is not JSON; refusing to start afresh") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise LedgerError(f"the witness state {path} is not a version {STATE_VERSION} witness state")
        root = data.get("root")
        return cls(data.get("log_vkey"), int(data.get("size", 0)), None if root is None else base64.b64decode(root),
                   data.get("checkpoint"), data.get("cosignature"))  # fmt: skip

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600: a new file beside it, synced, then renamed over it."""
        data = {"version": STATE_VERSION, "log_vkey": self.log_vkey, "size": self.size,
                "root": None if self.root is None else base64.b64encode(self.root).decode("ascii"),
                "checkpoint": self.checkpoint, "cosignature": self.cosignature}  # fmt: skip
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(data, indent=1) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        finally:
            if temporary.exists():
                temporary.unlink()
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class Witness:
    """One witness of one log: its name and key, its state file, and the ledger it watches."""

    def __init__(self, client: LedgerClient, state_path: Path, name: str, key, configured_vkey: str | None) -> None:
        self.client, self.state_path, self.name, self.key = client, state_path, name, key
        self.configured_vkey = configured_vkey

    def round(self) -> str:
        """Check and cosign the latest checkpoint once; returns what happened, in one line.

        Raises Inconsistent with the evidence, LedgerError when the log's key cannot be trusted."""
        state = WitnessState.load(self.state_path)
        pinned = state.log_vkey
        if self.configured_vkey and pinned and self.configured_vkey != pinned:
            raise LedgerError(f"the state pins the log key {pinned}, not the --vkey given; refusing a changed key")
        pinned = pinned or self.configured_vkey or self.client.get_text("/v1/log/key").strip()
        note = self.client.get_text("/v1/log/checkpoint")
        checkpoint, pinned = self._verify(note, pinned)
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            raise Inconsistent("a checkpoint of size 0 must have the empty tree's root", state.checkpoint or "", note)
        text = split_note(note)[0]
        if state.checkpoint is not None and state.log_vkey != pinned:  # a rotation was followed
            state.log_vkey = pinned
            state.save(self.state_path)
        if state.checkpoint is not None:
            if self._consistent(state, checkpoint, note) == "same":
                if state.cosignature and state.cosignature.rstrip("\n") not in note.split("\n"):
                    self._submit(text, state.cosignature, note)
                    return f"cosignature of size {checkpoint.size} handed in again"
                return f"nothing new: size {checkpoint.size} is cosigned"
        line = cosign(text, self.name, self.key, int(time.time()))
        state = WitnessState(pinned, checkpoint.size, checkpoint.root, note, line)
        state.save(self.state_path)  # persisted before the cosignature leaves (C2SP tlog-witness)
        self._submit(text, line, note)
        return f"cosigned the checkpoint of size {checkpoint.size}, root {base64.b64encode(checkpoint.root).decode()}"

    def _verify(self, note: str, pinned: str) -> tuple[Checkpoint, str]:
        return verify_served(self.client, note, pinned)

    def _consistent(self, state: WitnessState, checkpoint: Checkpoint, note: str) -> str:
        """"same" or "grown" when ``checkpoint`` extends the one cosigned last; Inconsistent otherwise."""
        old_note = state.checkpoint or ""
        if checkpoint.size < state.size:
            raise Inconsistent(f"the log shrank from {state.size} to {checkpoint.size} entries", old_note, note)
        if checkpoint.size == state.size:
            if checkpoint.root != state.root:
                raise Inconsistent(f"two different roots for the tree of size {state.size}", old_note, note)
            return "same"
        if state.size > 0:
            answer = self.client.get_json("/v1/log/proof/consistency", **{"from": state.size, "to": checkpoint.size})
            try:
                proof = [base64.b64decode(node, validate=True) for node in answer["proof"]]
                merkle.verify_consistency(state.size, checkpoint.size, proof, state.root, checkpoint.root)
            except (ProofError, KeyError, TypeError, ValueError) as error:
                raise Inconsistent(f"no valid consistency proof from {state.size} to {checkpoint.size}: {error}",
                                   old_note, note) from None  # fmt: skip
        return "grown"

    def _submit(self, text: str, line: str, note: str) -> None:
        self.client.post_text("/v1/log/cosignatures", note + line if line not in note else note)


def verify_served(client: LedgerClient, note: str, pinned: str) -> tuple[Checkpoint, str]:
    """A served checkpoint, verified with the ``pinned`` vkey or with the key a chain of rotations
    signed by the pinned key hands over to (``GET /v1/log/keys``); returns it and the vkey that
    verified it. A key changed any other way is refused (LedgerError)."""
    verifier = parse_vkey(pinned)
    try:
        checkpoint = verify_checkpoint(note, verifier)
    except ProofError:
        served = client.get_text("/v1/log/key").strip()
        if served == pinned:
            raise LedgerError("the served checkpoint does not verify with the log's pinned key") from None
        try:
            rotations = [Rotation(int(r["index"]), verifier.name, r["old_vkey"], r["new_vkey"], r["statement"])
                         for r in client.get_json("/v1/log/keys")]  # fmt: skip
            latest = follow(verifier, rotations).latest
        except (IntegrityFailure, KeyError, TypeError, ValueError):
            latest = None
        if latest is None or vkey(latest.name, latest.public_key) != served:
            raise LedgerError(
                f"the log's key changed from the pinned {pinned} to {served} without a rotation signed by "
                "the pinned key; refusing it"
            ) from None
        try:
            checkpoint, pinned = verify_checkpoint(note, latest), served
        except ProofError as error:
            raise LedgerError(f"the served checkpoint does not verify with the log's key: {error}") from None
        print(f"note: followed the log's key rotation to {served}", file=sys.stderr)
    if checkpoint.origin != verifier.name:
        raise LedgerError(f"the checkpoint is of log {checkpoint.origin!r}, not {verifier.name!r}")
    return checkpoint, pinned


def cmd_witness_run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("LEDGER_TOKEN")
    client = LedgerClient(args.url, token)
    witness = Witness(client, Path(args.state), args.name, read_private_key(Path(args.key)), args.vkey)
    while True:
        try:
            print(f"witness: {witness.round()}", flush=True)
        except Inconsistent as evidence:
            print(f"witness: REFUSED to cosign: {evidence}")
            print("--- the checkpoint this witness cosigned before ---")
            print(evidence.old_note, end="")
            print("--- the checkpoint the ledger serves now ---")
            print(evidence.new_note, end="", flush=True)
            return EXIT_REFUSED
        except Unavailable as error:
            if args.once:
                raise
            print(f"witness: {error}; trying again in {args.interval:g} s", file=sys.stderr, flush=True)
        except LedgerError as error:
            if args.once or not getattr(error, "status", None):
                print(f"witness: REFUSED: {error}", flush=True)
                return EXIT_REFUSED
            print(f"witness: {error}; trying again in {args.interval:g} s", file=sys.stderr, flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


def cmd_witness_keygen(args: argparse.Namespace) -> int:
    """A new witness key (PKCS#8 PEM, mode 0600) and its cosigner vkey, printed and written beside it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    try:
        key_vkey = cosigner_vkey(args.name, key.public_key())
    except ValueError as error:
        raise LedgerError(str(error)) from None
    write_private_key(Path(args.out), key)
    Path(args.out + ".vkey").write_text(key_vkey + "\n", encoding="utf-8")
    print(key_vkey)
    return 0


def cmd_witness_add(args: argparse.Namespace) -> int:
    text = Path(args.vkey).read_text(encoding="utf-8").strip() if Path(args.vkey).is_file() else args.vkey
    services = open_ledger(args)
    try:
        witness = services.log.add_witness(COMMAND_LINE, text)
    finally:
        services.close()
    print(f"registered witness {witness.name}")
    return 0


def cmd_witness_remove(args: argparse.Namespace) -> int:
    services = open_ledger(args)
    try:
        services.log.remove_witness(COMMAND_LINE, args.name)
    finally:
        services.close()
    print(f"removed witness {args.name}; the cosignatures it sent stay served")
    return 0


def cmd_witness_list(args: argparse.Namespace) -> int:
    services = open_ledger(args, read_only=True)
    try:
        for witness in services.log.list_witnesses(COMMAND_LINE):
            print(f"{witness.name}\t{witness.vkey}\tadded by {witness.added_by}")
    finally:
        services.close()
    return 0
