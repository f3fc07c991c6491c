"""The line formats of an export bundle (docs/log-format.md): ``entries.jsonl`` and ``keys.jsonl``.

Written by ``ledger export`` (api/cli_export.py) and read back by the offline verifier
(domain/audit, api/cli_log.py); a malformed line is an EntryProblem, failing where it stands.
"""

from __future__ import annotations

import base64
import binascii
import json

from domain.audit import EntryProblem, KeyEvent, _b64, _text


def key_event_of(index: int, entry: dict) -> KeyEvent:
    """The key history step that a decoded agency or key entry (kind in KEY_KINDS) records."""
    public_key = entry.get("public_key")
    return KeyEvent(
        index,
        entry["kind"],
        entry["agency"],
        entry.get("keyid"),
        None if public_key is None else base64.b64decode(public_key),
    )


def export_line(index: int, entry: bytes | None, leaf_hash: bytes | None, unreadable: str | None = None) -> str:
    """One line of an export's entries.jsonl: ``{"index", "entry", "leaf_hash"}``, hashes in base64.

    ``entry`` is None, with ``unreadable`` saying why, where an exporter could not read an entry (the
    exporters of earlier versions derived entries from events): the verifier then fails at this index.
    """
    line: dict[str, object] = {
        "index": index,
        "entry": None if entry is None else base64.b64encode(entry).decode("ascii"),
        "leaf_hash": None if leaf_hash is None else base64.b64encode(leaf_hash).decode("ascii"),
    }
    if unreadable is not None:
        line["unreadable"] = unreadable
    return json.dumps(line, separators=(",", ":"))


def parse_export_line(line: bytes | str, index: int) -> tuple[bytes, bytes | None]:
    """Read an entries.jsonl line that must be leaf ``index``; EntryProblem when it is not."""
    try:
        data = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
    except (ValueError, RecursionError):
        raise EntryProblem("the export line is not JSON") from None
    if not isinstance(data, dict) or data.get("index") != index:
        raise EntryProblem("the export line does not carry this index (indexes must be dense from 0)")
    if data.get("entry") is None:
        raise EntryProblem(f"the exporter could not read this entry: {data.get('unreadable', 'no reason given')}")
    entry = _b64(_text(data, "entry"), "export line's entry")
    recorded = data.get("leaf_hash")
    return entry, None if recorded is None else _b64(_text(data, "leaf_hash"), "export line's leaf_hash")


def key_event_line(event: KeyEvent) -> str:
    """One line of an export's keys.jsonl, the agency key history."""
    line: dict[str, object] = {"index": event.index, "kind": event.kind, "agency": event.agency}
    if event.keyid is not None:
        line["keyid"] = event.keyid
    if event.public_key is not None:
        line["public_key"] = base64.b64encode(event.public_key).decode("ascii")
    return json.dumps(line, separators=(",", ":"))


def parse_key_event_line(line: bytes | str) -> KeyEvent:
    """Read a keys.jsonl line back; EntryProblem when it is malformed."""
    try:
        data = json.loads(line)
        public_key = data.get("public_key")
        return KeyEvent(
            int(data["index"]),
            str(data["kind"]),
            str(data["agency"]),
            data.get("keyid"),
            None if public_key is None else base64.b64decode(public_key, validate=True),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error):
        raise EntryProblem("a key history line is malformed") from None
