"""``ledger export --out DIR`` (SPEC section 5): the whole log, its checkpoints and key history as
files anyone can verify offline with ``ledger verify DIR`` (api/cli_log.py). The bundle layout is
docs/log-format.md.

The entries are written as the integrity projection stored them when it hashed them (never derived
again from the events), streamed in chunks, so memory stays constant however long the log is. Export is read-only
as far as files go: it opens the ledger without creating one (a missing ledger or checkpoint key
is one line and exit status 3) and makes its directory only once the ledger is open. It does
catch the read models up and sign a checkpoint covering the whole tree, as a server would. An
export discloses every child's records, so it is a lookup on the record like any other (SPEC 6.3):
its own access entry (read ``export``, holder ``cli``) is appended before anything is written, and
the bundle, whose checkpoint covers it, carries it. With ``--child`` it writes one child's
evidence bundle instead (api/cli_child.py). The parser is api/cli.py's.
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
from api.usecases.admin import COMMAND_LINE
from api.usecases.children import record_lookup
from domain.audit import KEY_KINDS, EntryProblem, read_entry
from domain.bundle import export_line, key_event_line, key_event_of
from domain.entries import decode_entry, entry_bytes
from domain.errors import AlreadyExists, MalformedRequest
from projections.checkpoints import StoredCheckpoint, checkpoints_after
from projections.integrity import RecordedLeaf, recorded_leaves

CHUNK = 1000
BUNDLE_FORMAT = "safeguarding-ledger-export"


def cmd_export(args: argparse.Namespace) -> int:
    if args.child is not None:  # one child's evidence bundle (api/cli_child.py)
        from api.cli_child import cmd_export_child

        return cmd_export_child(args)
    if args.as_of is not None:
        raise MalformedRequest("--as-of is for one child's bundle: give --child too")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExists(f"{out} is not empty (or not a directory); export into a new directory")
    services = open_ledger(args, read_only=True)
    try:
        if services.signer is None:
            key = services.settings.checkpoint_key
            raise NoLedger(f"no checkpoint key at {key}; export signs its checkpoint with it")
        record_lookup(services, COMMAND_LINE, read="export", query={})  # durable before any file is written
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
    meanwhile wait for the next export), as the integrity projection stored them when it hashed
    them, with the key history in one pass; then the checkpoints up to that size, the vkey, and the
    manifest last: a bundle without one is incomplete. Returns how many entries and checkpoints
    were written."""
    from api.progress import progress

    written = 0
    entries, keys = open(out / "entries.jsonl", "w", encoding="utf-8"), open(out / "keys.jsonl", "w", encoding="utf-8")
    bar = progress(size, "entries", "export")  # drawn on a terminal only
    with entries, keys:
        for leaf in _stored_leaves(services, size):
            entries.write(export_line(leaf.leaf_index, leaf.entry, leaf.leaf_hash) + "\n")
            key_event = _key_event(leaf.leaf_index, leaf.entry)
            if key_event is not None:
                keys.write(key_event_line(key_event) + "\n")
            written += 1
            bar.update(1)
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


def _stored_leaves(services: Services, size: int) -> Iterator[RecordedLeaf]:
    """The stored leaves ``[0, size)`` in order, a chunk at a time; stops before the first missing
    one (a tree with a hole is the verifier's to report, at that index)."""
    index = 0
    while index < size:
        with services.reader.connect() as conn:
            chunk = recorded_leaves(conn, index, min(index + CHUNK, size))
        if not chunk:
            return
        for leaf in chunk:
            if leaf.leaf_index != index:
                return
            yield leaf
            index += 1


def _key_event(index: int, entry: bytes):
    """The key history step an agency or key entry records, or None for any other entry (parsed
    only when its bytes could be one)."""
    if not any(b'"%s"' % kind.encode() in entry for kind in KEY_KINDS):
        return None
    try:
        data = read_entry(entry)
        return key_event_of(index, data) if data["kind"] in KEY_KINDS else None
    except (EntryProblem, KeyError, TypeError, ValueError):
        return None  # a malformed key entry: the verifier fails at its index


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
