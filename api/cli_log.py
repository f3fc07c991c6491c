"""``ledger verify [DIR | --database-url URL]`` (SPEC section 5): an export (api/cli_export.py) or
the live database, checked in full.

The log is streamed in chunks and memory stays constant however long it is. Verification checks each
chunk's entries and signatures in worker processes (domain/audit ``audit_chunk``), a few chunks in
flight at once, and feeds the reports in log order to one ``Auditor`` that rebuilds the tree, the key
history, the ledger's signatures and every checkpoint. It prints ``leaf N: why`` for the first
failing leaf and exits 1, or exits 0 once everything holds. The bundle layout is docs/log-format.md.

Against the database (SPEC 6.5) it checks what the ledger serves: the entry bytes the integrity read
model stored, each against the event stored in its place; every stored Merkle node and checkpoint
against the tree recomputed from the entries; then every other read model against a rebuild from
the log in scratch tables (projections/rebuild_check), naming the first differing row.

A log that holds may still hold keys an administrator added without the agency's statement (SPEC
6.4): each is reported on its own ``flagged:`` line, naming the key, its agency, the leaf that added
it, who and why, and the leaves of every record it signed. They do not change the exit status: the
log is what it says it is, and whether those records are the agency's is for a person to judge.

Verification is read-only: it creates no database file, table or checkpoint key (a missing ledger
is one line and exit status 3); the scratch tables live in one transaction it rolls back. The
parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from api.bootstrap import read_models
from api.cli import settings_from
from api.cli_child import cmd_verify_child, is_child_bundle
from api.cli_export import BUNDLE_FORMAT, CHUNK, stored_checkpoints
from api.keyfiles import read_private_key
from api.opening import NoLedger, require_ledger
from api.settings import Settings
from domain.agencies import Agency
from domain.audit import AuditResult, Auditor, ChunkReport, EntryProblem, FlaggedKey, audit_chunk, merge_checkpoints
from domain.bundle import parse_export_line, parse_key_event_line
from domain.checkpoint import Checkpoint, NoteVerifier, parse_checkpoint, parse_vkey, vkey
from domain.checkpoint_keys import follow as follow_key_history
from domain.checkpoint_keys import rotations_in_export
from domain.cosignature import witness_quorum
from domain.entries import entry_bytes
from domain.errors import IntegrityFailure, NotFound, ProofError
from domain.ledger import Ledger
from domain.stored_tree import NodeCheck
from projections.checkpoints import StoredLeafEvent, latest_checkpoint, stored_log, stored_rotations
from projections.witnesses import cosigned_notes
from projections.db import make_engine
from projections.eventstore import open_ledger
from projections.integrity import stored_subtrees, tree_size
from projections.rebuild_check import Difference, first_difference

EXIT_FAILED = 1

Task = tuple[int, Any]


# Verify ------------------------------------------------------------------------------------------


@dataclass
class _Source:
    """What one verification reads: chunk tasks for a worker function, and the auditor to feed."""

    tasks: Iterator[Task]
    worker: Callable[[int, Any], ChunkReport]
    keys: dict[str, bytes]
    ledger_key: tuple[bytes, ...]  # every key the checkpoint-key history holds (entries' ledger signatures)
    auditor: Auditor
    total: int
    notes: list[str] = field(default_factory=list)
    expected_size: int | None = None
    read_models: Callable[[], Difference | None] | None = None
    close: Callable[[], None] = lambda: None
    witnessed: list[tuple[int, str]] = field(default_factory=list)  # notes that may carry cosignatures


def cmd_verify(args: argparse.Namespace) -> int:
    if args.dir and is_child_bundle(Path(args.dir)):  # one child's bundle, by its manifest's format
        return cmd_verify_child(Path(args.dir), args)
    source = _bundle(Path(args.dir), args) if args.dir else _database(settings_from(args), args)
    try:
        result = _run(source, args.processes, _Progress(source.total))
        if source.expected_size is not None and result.size != source.expected_size:
            raise IntegrityFailure(
                min(result.size, source.expected_size),
                f"the manifest lists {source.expected_size} entries but the bundle holds {result.size}",
            )
        difference = None if source.read_models is None else source.read_models()
    except IntegrityFailure as failure:
        print(f"leaf {failure.leaf_index}: {failure.reason}")
        return EXIT_FAILED
    finally:
        source.close()
    if difference is not None:
        print(difference)
        return EXIT_FAILED
    if args.witness:
        try:
            print(witness_quorum(args.witness, args.witnesses, source.witnessed))
        except ProofError as error:
            print(f"witnesses: {error}")
            return EXIT_FAILED
    for note in [*source.notes, *_signature_notes(result)]:
        print(f"note: {note}", file=sys.stderr)
    if result.covered < result.size:
        print(f"note: leaves {result.covered} to {result.size - 1} are not yet in a signed checkpoint", file=sys.stderr)
    print(
        f"verified {result.size} entries and {result.checkpoints} checkpoints"
        + ("; every read model equals its rebuild from the log" if source.read_models else "")
        + f"; root {base64.b64encode(result.root).decode('ascii')}"
    )
    for flagged in result.flagged_keys:
        print(flagged_line(flagged))
    return 0


def flagged_line(key: FlaggedKey) -> str:
    """One reported key: ``flagged: key K of agency A, added at leaf N by override (by X: "why");
    signed records at leaves 5, 9-12`` (or added "before key statements existed")."""
    if key.override is None:
        how = "by a version 1 entry, before key statements existed"
    else:
        how = f"by override (by {json.dumps(key.by, ensure_ascii=False)}: {json.dumps(key.override, ensure_ascii=False)})"
    signed = f"signed records at leaves {leaf_ranges(key.records)}" if key.records else "signed no record"
    return f"flagged: key {key.keyid} of agency {key.agency}, added at leaf {key.index} {how}; {signed}"


def leaf_ranges(indexes: list[int]) -> str:
    """Ascending leaf indexes as runs: ``[5, 9, 10, 11]`` -> ``5, 9-11``."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _signature_notes(result: AuditResult) -> list[str]:
    """What verification allowed for entries written before the ledger signed its entries."""
    if not result.unsigned_before:
        return []
    if result.signed_from is None:
        return [
            f"none of the {result.unsigned_before} entries no agency signs carries a ledger signature: they were "
            "written before the ledger signed its entries, so they cannot be told from rows inserted without its key"
        ]
    return [
        f"{result.unsigned_before} entries before leaf {result.signed_from}, where the ledger's signatures begin, "
        "carry none: they were written before the ledger signed its entries"
    ]


def _run(source: _Source, processes: int, progress: _Progress) -> AuditResult:
    """Check chunks in worker processes, at most a few in flight, feeding reports in log order."""
    if processes <= 0:
        _init_worker(source.keys, source.ledger_key)
        for task in source.tasks:
            source.auditor.add(source.worker(*task))
            progress.advance(source.auditor.tree.size)
        progress.done()
        return source.auditor.finish()
    pool = ProcessPoolExecutor(processes, initializer=_init_worker, initargs=(source.keys, source.ledger_key))
    pending: deque[Future[ChunkReport]] = deque()
    try:
        for task in source.tasks:
            pending.append(pool.submit(source.worker, *task))
            if len(pending) > 2 * processes:
                source.auditor.add(pending.popleft().result())
                progress.advance(source.auditor.tree.size)
        while pending:
            source.auditor.add(pending.popleft().result())
            progress.advance(source.auditor.tree.size)
    finally:
        pool.shutdown(cancel_futures=True)
        progress.done()
    return source.auditor.finish()


def _bundle(directory: Path, args: argparse.Namespace) -> _Source:
    """Verify an export: entries.jsonl against keys.jsonl, checkpoints.jsonl and a vkey."""
    manifest = json.loads(_read(directory / "manifest.json"))
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("version") != 1:
        raise NotFound(f"{directory} holds no ledger export of version 1")
    notes = []
    if args.vkey:
        verifier = _verifier(args.vkey)
    else:
        verifier = parse_vkey(_read(directory / "log.vkey").strip())
        notes.append("checked against the bundle's own log.vkey; pass --vkey with a key you hold to rule out forgery")
    keys = {e.keyid: e.public_key for e in _key_history(directory) if e.kind == "key_added"}
    with open(directory / "entries.jsonl", "rb") as lines:  # the checkpoint key's history, first
        history = follow_key_history(verifier, rotations_in_export(lines))
    entries = open(directory / "entries.jsonl", "rb")
    held = _held(args.checkpoint)
    witnessed = sorted([*held, *_held([str(directory / "checkpoint")])]) if args.witness else []
    checkpoints = merge_checkpoints(_bundle_checkpoints(directory), witnessed or held)  # all verified
    auditor = Auditor(history.keys[0], checkpoints, manifest.get("origin"), key_history=_key_history(directory),
                      verifier_for=history.verifier_for)  # fmt: skip
    return _Source(
        _parsed_chunks(entries), _check_parsed, keys, ledger_keys(history), auditor,
        int(manifest.get("size", 0)), notes, expected_size=int(manifest.get("size", 0)), close=entries.close,
        witnessed=witnessed,
    )  # fmt: skip


def _database(settings: Settings, args: argparse.Namespace) -> _Source:
    """Verify the live database: every stored event against what the integrity projection recorded,
    up to the latest checkpoint when verification starts (and any entries stored by then)."""
    require_ledger(settings.database_url)
    held = _held(args.checkpoint)  # before anything is opened: a missing file leaves nothing to close
    if args.vkey:
        verifier = _verifier(args.vkey)
    elif Path(settings.checkpoint_key).exists():
        verifier = parse_vkey(vkey(settings.origin, read_private_key(Path(settings.checkpoint_key)).public_key()))
    else:
        raise NoLedger(
            f"no checkpoint key at {settings.checkpoint_key} to take the vkey from: "
            "pass --vkey with the ledger's verifier key"
        )
    engine = make_engine(settings.database_url)
    ledger = open_ledger(settings.database_url)
    with engine.connect() as conn:  # read first: the walk below then covers at least this much
        latest = latest_checkpoint(conn)
        total = tree_size(conn)
        held_by_witnesses = cosigned_notes(conn) if args.witness else []  # a ledger may predate witnesses
        cosigned = [(s, note) for s, note in held_by_witnesses if latest and s <= latest.size]
    history = follow_key_history(verifier, stored_rotations(ledger, engine))
    roots: dict[int, bytes] = {}  # the checkpoint table's root column, until its note is checked

    def stored() -> Iterator[tuple[int, str]]:
        for checkpoint in stored_checkpoints(engine, -1 if latest is None else latest.size):
            roots[checkpoint.size] = checkpoint.root
            yield checkpoint.size, checkpoint.note

    def check_stored_root(checkpoint: Checkpoint) -> None:
        if roots.pop(checkpoint.size, checkpoint.root) != checkpoint.root:
            raise EntryProblem("the checkpoint table holds another root beside it than the one its note signs")

    def read_nodes(coordinates) -> dict[tuple[int, int], bytes]:
        with engine.connect() as conn:
            return stored_subtrees(conn, coordinates)

    auditor = Auditor(
        history.keys[0], merge_checkpoints(stored(), held, cosigned), settings.origin, on_checkpoint=check_stored_root,
        verifier_for=history.verifier_for, node_check=NodeCheck(read_nodes, total),
    )  # fmt: skip
    tasks = ((chunk[0].index, [_plain(item) for item in chunk]) for chunk in stored_log(ledger, engine, CHUNK))
    # The integrity read model is checked above, entry by entry and node by node.
    derived = [projection for projection in read_models() if projection.name != "integrity"]

    def close() -> None:
        ledger.close()
        engine.dispose()

    return _Source(
        tasks, _check_stored, _stored_keys(ledger), ledger_keys(history), auditor, total,
        read_models=lambda: first_difference(engine, ledger, derived), close=close, witnessed=[*held, *cosigned],
    )  # fmt: skip


def ledger_keys(history) -> tuple[bytes, ...]:
    """The raw public keys that may have signed the ledger's own entries: every checkpoint key in
    the key history (a rotation hands entry signing to the new key as it does checkpoints)."""
    return tuple(key.public_key.public_bytes_raw() for key in history.keys)


def _stored_keys(ledger: Ledger) -> dict[str, bytes]:
    """Every agency public key by key id, from the key_added events alone (a pre-pass by topic)."""
    keys: dict[str, bytes] = {}
    position = 0
    topics = [Agency.KeyAdded.TOPIC, Agency.KeyAddedV2.TOPIC]
    while page := ledger.recorder.select_notifications(
        start=position, limit=CHUNK, topics=topics, inclusive_of_start=False
    ):
        for notification in page:
            try:
                event = ledger.mapper.to_domain_event(notification)
            except Exception:  # an altered event: the verification stream names its index
                continue
            keys[event.keyid] = event.public_key
        position = page[-1].id
    return keys


def _parsed_chunks(lines: Iterable[bytes]) -> Iterator[Task]:
    """Chunks of parsed export lines, parsed here so workers spend their time on the entries; a line
    that does not parse ends the chunk, carrying its index and reason to fail after all before it."""
    iterator, start = iter(lines), 0
    while chunk := list(islice(iterator, CHUNK)):
        items, failure = [], None
        for offset, line in enumerate(chunk):
            try:
                items.append(parse_export_line(line, start + offset))
            except EntryProblem as problem:
                failure = (start + offset, str(problem))
                break
        yield start, (items, failure)
        if failure is not None:
            return
        start += len(chunk)


def _key_history(directory: Path) -> Iterator:
    """The bundle's key history, line by line (an iterator, so it can be walked beside the entries)."""
    with open(directory / "keys.jsonl", "rb") as lines:
        yield from (parse_key_event_line(line) for line in lines)


def _bundle_checkpoints(directory: Path) -> Iterator[tuple[int, str]]:
    """The bundle's checkpoints; a malformed line becomes a note that fails where it claims to be."""
    with open(directory / "checkpoints.jsonl", "rb") as lines:
        for line in lines:
            try:
                data = json.loads(line)
                yield int(data["size"]), str(data["note"])
            except (ValueError, KeyError, TypeError):
                yield 0, "a malformed checkpoints.jsonl line\n"


def _held(paths: list[str]) -> list[tuple[int, str]]:
    """Checkpoints the verifier obtained earlier (e.g. from GET /v1/log/checkpoint), by size."""
    held = []
    for path in paths:
        note = _read(Path(path))
        try:
            size = parse_checkpoint(note.split("\n\n", 1)[0] + "\n").size
        except ProofError as error:
            raise NotFound(f"{path} is not a checkpoint note: {error}") from None
        held.append((size, note))
    return sorted(held)


def _verifier(text_or_path: str) -> NoteVerifier:
    path = Path(text_or_path)
    return parse_vkey((_read(path) if path.is_file() else text_or_path).strip())


def _read(path: Path) -> str:
    """A text file; a missing one is FileNotFoundError, which ``ledger`` reports as exit status 3."""
    return path.read_text(encoding="utf-8")


# Worker processes --------------------------------------------------------------------------------

_KEYS: dict[str, bytes] = {}
_LEDGER_KEY: list[bytes] = []
_MAPPER: list = []


def _init_worker(keys: dict[str, bytes], ledger_key: tuple[bytes, ...]) -> None:
    """Give a worker process the agency keys and the ledger's public keys; a mapper to decode stored
    events is made on demand."""
    _KEYS.clear()
    _KEYS.update(keys)
    _LEDGER_KEY[:] = [ledger_key]


def _check_parsed(start: int, work: tuple[list[tuple[bytes, bytes | None]], tuple[int, str] | None]) -> ChunkReport:
    """Check parsed export lines from leaf ``start``, then report the line that did not parse, if any."""
    items, failure = work
    report = audit_chunk(start, items, _KEYS, _LEDGER_KEY[0])
    if report.failure is None:
        report.failure = failure
    return report


def _plain(item: StoredLeafEvent) -> tuple:
    """A stored leaf as plain values, cheap to pickle: ``(event fields or None, recorded id, hash,
    stored entry bytes)``."""
    n, recorded = item.notification, item.recorded
    event = None if n is None else (n.id, n.originator_id, n.originator_version, n.topic, n.state)
    if recorded is None:
        return event, None, None, None
    return event, recorded.notification_id, recorded.leaf_hash, recorded.entry


def _check_stored(start: int, items: list[tuple]) -> ChunkReport:
    """Check the stored entries from leaf ``start`` (as the integrity read model stored and hashed
    them), each with the event stored in its place, which must still give those very bytes."""
    if not _MAPPER:  # an in-memory ledger, only for its mapper (the same transcodings as the real one)
        _MAPPER.append(Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper)
    mapper = _MAPPER[0]

    def entries() -> Iterator[tuple[bytes, bytes | None]]:
        for event, recorded_id, recorded_hash, stored_entry in items:
            if event is None:
                raise EntryProblem("the ledger recorded this leaf but its event is no longer stored")
            notification_id, originator_id, version, topic, state = event
            if recorded_id is not None and recorded_id != notification_id:
                raise EntryProblem(
                    f"the leaf was recorded for event {recorded_id}, but event {notification_id} "
                    "now stands in its place (an event was deleted, inserted or moved)"
                )
            try:
                entry = entry_bytes(mapper.to_domain_event(StoredEvent(originator_id, version, topic, state)))
            except Exception:  # an altered stored event can fail in any part of decoding
                raise EntryProblem("the stored event cannot be decoded (its stored state was altered)") from None
            if stored_entry is not None and entry != stored_entry:
                raise EntryProblem(
                    "the event stored in this leaf's place no longer gives the entry bytes the ledger stored and "
                    "hashed for it (the event or the stored entry was altered)"
                )
            yield entry, recorded_hash  # not yet integrated when None: checked as the event gives it

    return audit_chunk(start, entries(), _KEYS, _LEDGER_KEY[0])


class _Progress:
    """A one-line progress count on standard error, only when it is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.enabled = sys.stderr.isatty()
        self.started = self.shown = time.monotonic()

    def advance(self, done: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self.shown >= 0.2:
            rate = done / max(now - self.started, 1e-9)
            sys.stderr.write(f"\rverifying: {done}/{self.total} entries, {rate:,.0f}/s ")
            sys.stderr.flush()
            self.shown = now

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
