"""``ledger push``: an agency signs its record files and posts them to a ledger over HTTP.

The one tool an agency's integrator needs for a bulk load: records (a JSON record per file, or JSON
lines of records) are signed with the agency key exactly as their bytes are (as ``ledger sign``
does), posted in batches (api/push_http.py retries a busy or restarting ledger; resubmitting is
safe), and each receipt is appended to the receipts file (JSON lines) as soon as it is answered. A
run that stops part way, for any reason, is resumed by running the same command: records whose
``(agency, record_id)`` already has a receipt in the file are not sent again. Every receipt in the
file is then checked against the ledger's signed checkpoint with the verifier key the agency pinned
(``--vkey``); the checkpoint is kept beside the receipts (``RECEIPTS.checkpoint``) so the next run
also proves that the log it sees now extends the one it saw then.

Standard output carries one RFC 9457 problem per refused record (with ``source``, ``agency`` and
``record_id`` members naming it); standard error the summary line, retries, and on a terminal a
progress bar. Exit status 0 when every record has a verified receipt, 1 when one was refused or a
receipt does not verify, 2 for bad usage or a request the ledger refuses whole (a bad token), 3
when the ledger cannot be reached. The parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from api.cli import EXIT_REFUSED
from domain.errors import LedgerError, MalformedRequest
from domain.jsonstrict import parse_json
from domain.records import parse_payload, peek_agency

#: A batch stays well below the ledger's 16 MiB limit whatever its records weigh.
MAX_BATCH_BYTES = 8 * 1024 * 1024
TOKEN_VARIABLE = "LEDGER_TOKEN"


@dataclass(frozen=True, slots=True)
class Source:
    """One record to push: its bytes exactly as they will be signed, and where it was read."""

    where: str
    data: bytes
    agency: str | None = None
    record_id: str | None = None
    problem: LedgerError | None = None

    @property
    def key(self) -> tuple[str | None, str | None]:
        return self.agency, self.record_id


def record_problem(data: bytes) -> str | None:
    """Why these bytes are not a valid record payload (SPEC section 2), or None when they are."""
    try:
        parse_payload(peek_agency(data)[0])
    except LedgerError as error:
        return str(error)
    return None


def read_records(paths: Sequence[str]) -> Iterator[Source]:
    """Each file is one JSON record (signed as the file's bytes are) or JSON lines of records
    (each line's bytes, without its line break). A record that names no agency and record_id is
    yielded with its problem: it cannot be sent, nor found again in the receipts."""
    for path in paths:
        data = Path(path).read_bytes()
        if not data.strip():
            continue
        try:
            parse_json(data.strip(), what=path)
        except LedgerError:
            pieces = [(f"{path}:{n}", line.rstrip(b"\r")) for n, line in enumerate(data.split(b"\n"), 1)]
        else:
            pieces = [(path, data)]
        for where, piece in pieces:
            if piece.strip():
                yield _identified(where, piece)


def _identified(where: str, data: bytes) -> Source:
    try:
        payload, agency = peek_agency(data)
        record_id = payload.get("record_id")
        if not isinstance(record_id, str) or not record_id:
            raise MalformedRequest("the record has no record_id")
    except LedgerError as error:
        return Source(where, data, problem=error)
    return Source(where, data, agency, record_id)


def read_receipts(path: Path) -> dict[tuple[str, str], dict]:
    """The receipts already held, by ``(agency, record_id)``. A torn last line (a run killed while
    writing it) is not a receipt: its record is simply sent again, and answered the same."""
    held: dict[tuple[str, str], dict] = {}
    if not path.exists():
        return held
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            receipt = json.loads(line)
        except ValueError:
            continue
        if isinstance(receipt, dict) and {"agency", "record_id", "leaf_index", "leaf_hash"} <= receipt.keys():
            held[(receipt["agency"], receipt["record_id"])] = receipt
    return held


def batches(sources: list[Source], size: int) -> Iterator[list[Source]]:
    """Runs of at most ``size`` records and about MAX_BATCH_BYTES of envelopes."""
    batch: list[Source] = []
    weight = 0
    for source in sources:
        cost = len(source.data) * 4 // 3 + 512
        if batch and (len(batch) >= size or weight + cost > MAX_BATCH_BYTES):
            yield batch
            batch, weight = [], 0
        batch.append(source)
        weight += cost
    if batch:
        yield batch


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
    else:
        token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise MalformedRequest(f"give the agency's token in a file with --token-file, or in {TOKEN_VARIABLE}")
    return token


def _verifier(text_or_path: str):
    from domain.checkpoint import parse_vkey

    path = Path(text_or_path)
    return parse_vkey((path.read_text(encoding="utf-8") if path.is_file() else text_or_path).strip())


def cmd_push(args: argparse.Namespace) -> int:
    from api.keyfiles import read_private_key
    from api.problems import from_ledger_error
    from api.progress import progress
    from api.push_http import LedgerClient, RetryPolicy
    from domain import envelope as dsse

    verifier = _verifier(args.vkey)
    key = read_private_key(Path(args.key))
    token = _token(args)
    receipts_path = Path(args.receipts)
    sources = list(read_records(args.records))
    held = read_receipts(receipts_path)
    refused = [s for s in sources if s.problem is not None]
    pending = [s for s in sources if s.problem is None and s.key not in held]
    skipped = sum(1 for s in sources if s.problem is None and s.key in held)
    for source in refused:
        _print_refusal(from_ledger_error(source.problem), source)

    client = LedgerClient(args.url, token, RetryPolicy(retries=args.retries, backoff=args.backoff))
    try:
        client.checkpoint(verifier)  # the ledger pinned, and the token good, before a record leaves
        recorded, rejected = _send(client, pending, args.batch_size, receipts_path, held, key, dsse.sign, progress)
        verified, failures, checkpoint = _verify(client, verifier, receipts_path, held, progress)
    finally:
        client.close()
    for line in failures[:20]:
        print(f"ledger push: {line}", file=sys.stderr)
    print(
        f"ledger push: {len(sources)} records read: {recorded} recorded now, {skipped} skipped (receipt already in "
        f"{receipts_path}), {len(refused) + rejected} refused; {verified} of {len(held)} receipts verified "
        f"against the checkpoint of size {checkpoint.size}" + (f"; {client.retried} retries" if client.retried else ""),
        file=sys.stderr,
    )
    return EXIT_REFUSED if refused or rejected or failures else 0


def _send(client, pending: list[Source], size: int, receipts_path: Path, held: dict, key, sign, progress) -> tuple[int, int]:
    """Post the pending records; returns how many got a receipt and how many were refused. Each
    batch's receipts reach the disk (fsync) before the next batch is sent."""
    recorded = rejected = 0
    bar = progress(len(pending), "records", "push")
    try:
        with receipts_path.open("a+b") as out:
            if out.tell() > 0:
                out.seek(-1, os.SEEK_END)
                if out.read(1) != b"\n":
                    out.write(b"\n")  # a torn line from a run that was killed: start afresh after it
            for batch in batches(pending, size):
                results = client.submit_batch([sign(source.data, key) for source in batch])
                for source, result in zip(batch, results):
                    if not isinstance(result, dict):
                        result = {"detail": "the ledger's result for this record is not a JSON object"}
                    if "leaf_index" in result and (result.get("agency"), result.get("record_id")) == source.key:
                        out.write(json.dumps(result).encode("utf-8") + b"\n")
                        held[source.key] = result
                        recorded += 1
                    else:
                        _print_refusal(result, source)
                        rejected += 1
                out.flush()
                os.fsync(out.fileno())
                bar.update(len(batch))
    finally:
        bar.close()
    return recorded, rejected


def _verify(client, verifier, receipts_path: Path, held: dict, progress):
    """Check every held receipt against the latest checkpoint (and that checkpoint against the one
    kept by the last run); returns (verified, failure lines, checkpoint)."""
    from domain.checkpoint import verify_checkpoint
    from domain.errors import ProofError

    note, checkpoint = client.checkpoint(verifier)
    failures: list[str] = []
    kept = receipts_path.with_name(receipts_path.name + ".checkpoint")
    if kept.exists():
        try:
            client.verify_consistent(verify_checkpoint(kept.read_text(encoding="utf-8"), verifier), checkpoint)
        except ProofError as error:
            failures.append(f"the log is not consistent with the checkpoint kept in {kept}: {error}")
    verified = 0
    bar = progress(len(held), "receipts", "verify")
    try:
        for (agency, record_id), receipt in held.items():
            try:
                client.verify_receipt(receipt, checkpoint)
            except ProofError as error:
                failures.append(f"the receipt of {agency} {record_id} does not verify: {error}")
            else:
                verified += 1
            bar.update()
    finally:
        bar.close()
    if not failures:
        temporary = kept.with_name(kept.name + ".new")
        temporary.write_text(note, encoding="utf-8")
        temporary.replace(kept)
    return verified, failures, checkpoint


def _print_refusal(problem: dict, source: Source) -> None:
    """One refused record on standard output: the ledger's problem, naming which record it was."""
    named = {"source": source.where, "agency": source.agency, "record_id": source.record_id}
    print(json.dumps({**problem, **{k: v for k, v in named.items() if v is not None}}), flush=True)
