"""``ledger export --out DIR --child ID [--as-of T]`` and ``ledger verify`` of what it writes: one
child's evidence bundle (domain/child_bundle.py; layout in docs/log-format.md).

The bundle is made by the inquiry use case (api/usecases/inquiry.py), the same one that answers
``GET /v1/bundle``, acting as an inquiry at the command line: its access entry is appended before
anything is written. The directory is made only once the bundle is; the manifest is written last.
Verification reads the directory (or the endpoint's JSON saved to a file) and needs nothing else:
no database, no other child's data. The parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from api.cli import open_ledger
from api.opening import NoLedger
from domain.checkpoint import parse_vkey
from domain.child_bundle import BUNDLE_KIND, BundleProblem, ChildBundle, parse_bundle, parse_leaf, verify_child_bundle
from domain.errors import AlreadyExists, IntegrityFailure, MalformedRequest, ProofError
from domain.times import parse_optional_instant

EXIT_FAILED = 1


def cmd_export_child(args: argparse.Namespace) -> int:
    from api.usecases.inquiry import COMMAND_LINE_INQUIRY, selector_of

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExists(f"{out} is not empty (or not a directory); export into a new directory")
    as_of = parse_optional_instant(args.as_of, "--as-of", error=MalformedRequest)
    services = open_ledger(args, read_only=True)
    try:
        if services.signer is None:
            raise NoLedger(f"no checkpoint key at {services.settings.checkpoint_key}; a bundle is proved in a checkpoint")
        bundle = services.inquiry.child_bundle(COMMAND_LINE_INQUIRY, selector_of(args.child), as_of)
    finally:
        services.close()
    write_bundle(out, bundle)
    own = len(bundle.leaves) - len(bundle.manifest["key_history"])
    print(f"exported {own} entries about child {bundle.manifest['child']['id']} and "
          f"{len(bundle.manifest['key_history'])} key history entries to {out}, "
          f"proved in the checkpoint of size {bundle.manifest['checkpoint']['size']}")  # fmt: skip
    return 0


def write_bundle(out: Path, bundle: ChildBundle) -> None:
    """The bundle's files; the manifest last, so a directory without one is an unfinished bundle."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "entries.jsonl", "w", encoding="utf-8") as lines:
        for leaf in bundle.leaves:
            lines.write(json.dumps(leaf.as_json(), separators=(",", ":")) + "\n")
    (out / "checkpoint").write_text(bundle.checkpoint, encoding="utf-8")
    (out / "log.vkey").write_text(bundle.vkey + "\n", encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps(bundle.manifest, indent=2) + "\n", encoding="utf-8")


def is_child_bundle(path: Path) -> bool:
    """Whether ``ledger verify PATH`` names a child bundle: a bundle's JSON file, or a directory
    whose manifest says so (anything else is verified as a full export)."""
    if path.is_file():
        return True
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8")).get("format") == BUNDLE_KIND
    except (OSError, ValueError, AttributeError):
        return False


def cmd_verify_child(path: Path, args: argparse.Namespace) -> int:
    """Verify a bundle offline; ``leaf N: why`` or ``bundle: why`` and exit status 1 when it fails."""
    notes = []
    if args.checkpoint or args.witness:
        notes.append("--checkpoint and --witness apply to a full export or the database, not to a child's bundle")
    try:
        bundle = read_bundle(path)
        if args.vkey:
            text = Path(args.vkey).read_text(encoding="utf-8") if Path(args.vkey).is_file() else args.vkey
            verifier = parse_vkey(text.strip())
        else:
            verifier = parse_vkey(bundle.vkey.strip())
            notes.append("checked against the bundle's own log.vkey; pass --vkey with a key you hold to rule out forgery")
        result = verify_child_bundle(bundle, verifier)
    except IntegrityFailure as failure:
        print(f"leaf {failure.leaf_index}: {failure.reason}")
        return EXIT_FAILED
    except (BundleProblem, ProofError, UnicodeDecodeError) as problem:
        print(f"bundle: {problem}")
        return EXIT_FAILED
    for note in [*notes, *result.notes]:
        print(f"note: {note}", file=sys.stderr)
    print(f"verified the bundle of child {result.child}: {result.entries} entries about the child and "
          f"{result.key_history} key history entries, each proved in the checkpoint of size {result.checkpoint.size}")  # fmt: skip
    for flagged in result.flagged_keys:
        from api.cli_log import flagged_line

        print(flagged_line(flagged))
    return 0


def read_bundle(path: Path) -> ChildBundle:
    """A bundle from its directory or its JSON file; BundleProblem when it is malformed."""
    if path.is_file():
        try:
            return parse_bundle(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            raise BundleProblem(f"{path} is not JSON") from None
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except ValueError:
        raise BundleProblem("manifest.json is not JSON") from None
    leaves = []
    with open(path / "entries.jsonl", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                leaves.append(parse_leaf(json.loads(line)))
            except ValueError:
                raise BundleProblem(f"line {number} of entries.jsonl is not JSON") from None
    checkpoint = (path / "checkpoint").read_text(encoding="utf-8")
    return ChildBundle(manifest, leaves, checkpoint, (path / "log.vkey").read_text(encoding="utf-8").strip())
