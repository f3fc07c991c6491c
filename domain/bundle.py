"""The line formats of an export bundle (docs/log-format.md): ``entries.jsonl`` and ``keys.jsonl``.

Written by ``ledger export`` (api/cli_export.py) and read back by the offline verifier
(domain/audit, api/cli_log.py); a malformed line is an EntryProblem, failing where it stands.
"""

from __future__ import annotations

import base64
import json

from domain.agency_history import (  # noqa: F401 - the keys.jsonl lines live with the history they list
    EntryProblem,
    b64_field as _b64,
    key_event_line,
    key_event_of,
    parse_key_event_line,
    text_field as _text,
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
