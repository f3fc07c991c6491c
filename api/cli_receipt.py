"""``ledger receipt fetch`` and ``ledger receipt verify``: receipt bundles that stand alone.

``verify FILE`` checks a bundle (domain/receipts) offline: the entry hashes to the receipt's leaf
hash and names its record, the checkpoint is signed by the log's key (``--vkey``, or the bundle's
own with a note saying so), the inclusion proof leads from the leaf to the checkpoint's root, and,
with ``--witness NAME=VKEY`` (repeatable) and ``--witnesses K``, that K of those witnesses cosigned
it. With ``--url`` it also asks the ledger whether it still holds the entry: its latest checkpoint
must verify (following key rotations signed by the bundle's key) and be consistent with the
bundle's, by an RFC 9162 consistency proof. Exit status 0 when everything holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path

from api.cli import EXIT_REFUSED
from api.http_client import LedgerClient
from domain import merkle
from domain.checkpoint import parse_vkey
from domain.cosignature import parse_witness_option
from domain.errors import LedgerError, NotFound, ProofError, Unavailable
from domain.receipts import VerifiedReceipt, verify_bundle


def cmd_receipt_fetch(args: argparse.Namespace) -> int:
    """Fetch the bundle of the record at ``--leaf-index`` and write it to ``--out`` (or print it)."""
    client = LedgerClient(args.url, args.token or os.environ.get("LEDGER_TOKEN"))
    bundle = client.get_json("/v1/receipts", leaf_index=args.leaf_index)
    text = json.dumps(bundle, indent=1) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    try:
        bundle = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except ValueError:
        raise NotFound(f"{args.file} is not a JSON receipt bundle") from None
    try:
        witnesses = dict(parse_witness_option(text) for text in args.witness)
        required = len(witnesses) if args.witnesses is None else args.witnesses
        if required > len(witnesses):
            raise LedgerError(f"--witnesses {required} asks for more witnesses than the {len(witnesses)} named")
        vkey_text = _vkey(args.vkey) if args.vkey else bundle.get("vkey") if isinstance(bundle, dict) else None
        if not isinstance(vkey_text, str):
            raise ProofError("the bundle carries no vkey: pass --vkey")
        verified = verify_bundle(bundle, parse_vkey(vkey_text), witnesses, required)
        if args.url:
            latest = _still_held(args, verified, vkey_text)
    except ProofError as error:
        print(f"receipt: NOT verified: {error}")
        return EXIT_REFUSED
    if not args.vkey:
        print("note: checked against the bundle's own vkey; pass --vkey with a key you hold to rule out forgery",
              file=sys.stderr)  # fmt: skip
    receipt = verified.receipt
    print(f"receipt verified: leaf {receipt['leaf_index']}, record {receipt['record_id']!r} of agency "
          f"{receipt['agency']}, in the checkpoint of size {verified.checkpoint.size}")  # fmt: skip
    if verified.cosignatures:
        names = ", ".join(sorted(c.witness for c in verified.cosignatures))
        print(f"cosigned by {len(verified.cosignatures)} of the {len(witnesses)} witnesses named: {names}")
    if args.url:
        print(f"still in the log: the ledger's latest checkpoint (size {latest}) is consistent with it")
    return 0


def _still_held(args: argparse.Namespace, verified: VerifiedReceipt, vkey_text: str) -> int:
    """The ledger's latest checkpoint, verified and proved consistent with the bundle's; its size."""
    from api.cli_witness import verify_served

    client = LedgerClient(args.url, args.token or os.environ.get("LEDGER_TOKEN"))
    try:
        latest, _ = verify_served(client, client.get_text("/v1/log/checkpoint"), vkey_text)
    except Unavailable:
        raise
    except LedgerError as error:  # a key the bundle's does not lead to: not the log it was proved in
        if getattr(error, "status", None) is None:
            raise ProofError(str(error)) from None
        raise
    old = verified.checkpoint
    if latest.size < old.size:
        raise ProofError(f"the ledger's log shrank: its latest checkpoint covers {latest.size}, the bundle's {old.size}")
    if latest.size == old.size:
        if latest.root != old.root:
            raise ProofError(f"the ledger now signs another root for the tree of size {old.size}")
        return latest.size
    answer = client.get_json("/v1/log/proof/consistency", **{"from": old.size, "to": latest.size})
    try:
        proof = [base64.b64decode(node, validate=True) for node in answer["proof"]]
    except (KeyError, TypeError, ValueError):
        raise ProofError("the ledger's consistency proof is malformed") from None
    try:
        merkle.verify_consistency(old.size, latest.size, proof, old.root, latest.root)
    except ProofError as error:
        raise ProofError(f"the ledger's log is not consistent with the bundle's checkpoint: {error}") from None
    return latest.size


def _vkey(text_or_path: str) -> str:
    path = Path(text_or_path)
    return (path.read_text(encoding="utf-8") if path.is_file() else text_or_path).strip()
