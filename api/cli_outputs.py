"""``ledger sar`` and ``ledger review``: a child's subject access export and anonymised review.

Both are made by api/usecases/outputs.py acting as an inquiry at the command line (as the child's
evidence bundle is; ``--by`` names the person in the access entry), which appends the access entry
before anything is written; a child the ledger does not know writes nothing. The output directory
must be new or empty and is made only once the output is. The review's mapping (pseudonym -> real
person) is written apart, readable by its owner alone (mode 0600), and is in no other file. The
parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

from api.cli import open_ledger
from domain.access import MAX_HOLDER
from domain.errors import AlreadyExists
from domain.text import check_query_text


def _checked_out(path: str) -> Path:
    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExists(f"{out} is not empty (or not a directory); write into a new directory")
    return out


def _principal(args: argparse.Namespace):
    from api.usecases.inquiry import COMMAND_LINE_INQUIRY

    if args.by is None:
        return COMMAND_LINE_INQUIRY
    check_query_text(args.by, "--by", MAX_HOLDER)
    return replace(COMMAND_LINE_INQUIRY, holder=args.by)


def _write_json(path: Path, data: dict, mode: int = 0o644) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.chmod(path, mode)  # whatever the umask


def cmd_sar(args: argparse.Namespace) -> int:
    from api.outputs_pdf import subject_access_pdf
    from api.usecases.inquiry import selector_of
    from api.usecases.outputs import Outputs

    out = _checked_out(args.out)
    services = open_ledger(args, read_only=True)
    try:
        export = Outputs(services).subject_access(_principal(args), selector_of(args.child))
    finally:
        services.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "chronology.pdf").write_bytes(subject_access_pdf(export))
    _write_json(out / "chronology.json", export.as_json())
    _write_json(out / "withheld.json", {"child": export.child["id"], "withheld": [w.as_json() for w in export.withheld]})
    withheld = sum(item.count for item in export.withheld)
    print(f"wrote the subject access export of child {export.child['id']} ({len(export.entries)} entries, "
          f"{withheld} items withheld) to {out}")  # fmt: skip
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from api.outputs_pdf import review_pdf
    from api.usecases.inquiry import selector_of
    from api.usecases.outputs import Outputs

    out = _checked_out(args.out)
    mapping = Path(args.mapping) if args.mapping else out / "mapping.json"
    if mapping.exists():
        raise AlreadyExists(f"{mapping} exists; the mapping is never overwritten")
    services = open_ledger(args, read_only=True)
    try:
        review = Outputs(services).review(_principal(args), selector_of(args.child))
    finally:
        services.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "review.pdf").write_bytes(review_pdf(review))
    _write_json(out / "review.json", review.as_json())
    _write_json(mapping, review.mapping_json(), mode=0o600)
    print(f"wrote the anonymised review of child {review.child_id} ({len(review.document.entries)} entries) to "
          f"{out}; its mapping, for the reviewer alone, to {mapping}")  # fmt: skip
    return 0
