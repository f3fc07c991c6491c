"""The byte format of a log entry, version 1: what each Merkle leaf hashes (docs/log-format.md).

Every stored event becomes one entry: canonical JSON (UTF-8, keys sorted, no insignificant white
space) of ``{"v": 1, "kind", "at", "originator", ...the event's own fields}``. A record's entry
embeds its DSSE ``payloadType``, ``payload`` and signature strings verbatim, so anyone holding the
log can check the agency's signature without the ledger.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Protocol

from domain.errors import InvalidPayload

ENTRY_VERSION = 1


class LoggedEvent(Protocol):
    """What an event must offer to become a log entry."""

    ENTRY_KIND: str
    originator_id: Any
    timestamp: datetime

    def entry_fields(self) -> dict: ...


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``: one spelling per instant, so bytes are stable."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(data: dict) -> bytes:
    """Sorted keys, no white space, UTF-8: the same data always gives the same bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_bytes(event: LoggedEvent) -> bytes:
    """The entry bytes of one stored event."""
    return canonical_json(
        {
            "v": ENTRY_VERSION,
            "kind": event.ENTRY_KIND,
            "at": format_time(event.timestamp),
            "originator": str(event.originator_id),
            **event.entry_fields(),
        }
    )


def decode_entry(data: bytes) -> dict:
    """Parse entry bytes back into their fields, refusing anything that is not a version 1 entry."""
    try:
        entry = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload("entry is not UTF-8 JSON") from exc
    if not isinstance(entry, dict) or entry.get("v") != ENTRY_VERSION or "kind" not in entry:
        raise InvalidPayload("entry is not a version 1 log entry")
    if canonical_json(entry) != data:
        raise InvalidPayload("entry is not in canonical form")
    return entry
