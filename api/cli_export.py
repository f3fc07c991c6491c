"""``ledger export --out DIR`` (SPEC section 5): the whole log, its checkpoints and key history as
files anyone can verify offline with ``ledger verify DIR`` (api/cli_log.py). The bundle layout is
docs/log-format.md.

The log is streamed in chunks, so memory stays constant however long it is. Export is read-only
as far as files go: it opens the ledger without creating one (a missing ledger or checkpoint key
is one line and exit status 3) and makes its directory only once the ledger is open. It does
catch the read models up and sign a checkpoint covering the whole tree, as a server would. The
parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine

from api.bootstrap import Services
from api.cli import open_ledger
from api.opening import NoLedger
from domain.audit import KEY_KINDS, export_line, key_event_line, key_event_of
from domain.entries import decode_entry, entry_bytes
from domain.errors import AlreadyExists
from projections.checkpoints import StoredCheckpoint, checkpoints_after, stored_log

CHUNK = 1000
BUNDLE_FORMAT = "safeguarding-ledger-export"


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExists(f"{out} is not empty (or not a directory); export into a new directory")
    services = open_ledger(args, read_only=True)
    try:
        if services.signer is None:
            key = services.settings.checkpoint_key
            raise NoLedger(f"no checkpoint key at {key}; export signs its checkpoint with it")
        out.mkdir(parents=True, exist_ok=True)
        services.runner.catch_up()
        latest = services.checkpoint()
        size, count = _write_bundle(out, services, latest.size)
    finally:
        services.close()
    print(f"exported {size} entries and {count} checkpoints to {out}; the latest checkpoint covers {latest.size}")
    return 0


def _write_bundle(out: Path, services: Services, size: int) -> tuple[int, int]:
    """Write the first ``size`` entries (all that the latest checkpoint covers: entries appended
    meanwhile wait for the next export) with the key history in one pass, then the checkpoints up
    to that size, the vkey, and the manifest last: a bundle without one is incomplete.
    Returns how many entries and checkpoints were written."""
    from api.progress import progress

    written = 0
    entries, keys = open(out / "entries.jsonl", "w", encoding="utf-8"), open(out / "keys.jsonl", "w", encoding="utf-8")
    bar = progress(size, "entries", "export")  # drawn on a terminal only
    with entries, keys:
        for chunk in stored_log(services.ledger, services.engine, CHUNK):
            bar.update(sum(1 for item in chunk if item.notification is not None and item.index < size))
            for item in chunk:
                if item.notification is None or item.index >= size:
                    break  # a log shorter than its recorded tree is the verifier's to report
                recorded = None if item.recorded is None else item.recorded.leaf_hash
                try:
                    event = services.ledger.mapper.to_domain_event(item.notification)
                    entry = entry_bytes(event)
                except Exception:  # an altered stored event can fail in any part of decoding
                    entries.write(export_line(item.index, None, recorded, "the stored event cannot be decoded") + "\n")
                else:
                    entries.write(export_line(item.index, entry, recorded) + "\n")
                    if event.ENTRY_KIND in KEY_KINDS:
                        keys.write(key_event_line(key_event_of(item.index, decode_entry(entry))) + "\n")
                written = item.index + 1
    bar.close()
    count, latest_note = 0, ""
    with open(out / "checkpoints.jsonl", "w", encoding="utf-8") as notes:
        for checkpoint in stored_checkpoints(services.engine, size):
            notes.write(json.dumps({"size": checkpoint.size, "note": checkpoint.note}) + "\n")
            count, latest_note = count + 1, checkpoint.note
    (out / "checkpoint").write_text(latest_note, encoding="utf-8")
    (out / "log.vkey").write_text(services.signer.vkey + "\n", encoding="utf-8")
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": 1,
        "entry_format": 1,
        "origin": services.signer.origin,
        "size": written,
        "checkpoints": count,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return written, count


def stored_checkpoints(engine: Engine, up_to: int) -> Iterator[StoredCheckpoint]:
    """Every stored checkpoint of size at most ``up_to``, smallest first, a page at a time; the bound
    keeps out checkpoints signed while an export or verification is running."""
    last = -1
    while True:
        with engine.connect() as conn:
            page = [c for c in checkpoints_after(conn, last) if c.size <= up_to]
        if not page:
            return
        yield from page
        last = page[-1].size
