"""The log as entries (decoded entry bytes, in log order), for tests that check what an act wrote."""

from __future__ import annotations

import re

from api.bootstrap import Services
from domain.entries import decode_entry, entry_bytes


def log_entries(services: Services) -> list[dict]:
    """Every stored event as its decoded log entry, in log order."""
    ledger = services.ledger
    stored = ledger.recorder.select_notifications(start=None, limit=1_000_000)
    return [decode_entry(entry_bytes(ledger.mapper.to_domain_event(item))) for item in stored]


def entries_of(services: Services, kind: str) -> list[dict]:
    return [entry for entry in log_entries(services) if entry["kind"] == kind]


def stored_count(services: Services) -> int:
    """How many events the log holds (not the highest id: PostgreSQL spends ids on refused inserts)."""
    return len(services.ledger.recorder.select_notifications(start=None, limit=1_000_000))


def mentions(text: str, value: str) -> bool:
    """Whether ``text`` holds ``value`` as a value of its own, not by chance inside base64 (a
    signature or hash can spell "Sky" or a digit run): never flanked by a base64 character."""
    return re.search(rf"(?<![A-Za-z0-9+/=]){re.escape(value)}(?![A-Za-z0-9+/=])", text) is not None
