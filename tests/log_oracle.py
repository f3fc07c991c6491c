"""A brute-force reading of the whole log: the reference the chronology and identity models must match.

Deliberately naive: it replays every event in memory and answers each question by scanning, with
the rules of SPEC sections 2-3 written out plainly, sharing no code with projections/.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from domain.identifiers import ChildIdentifiers
from domain.links import IdentityLink, RecordLinkWithdrawal
from domain.records import Record, RecordPayload, parse_payload, record_aggregate_id

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass
class LoggedRecord:
    leaf: int
    recorded: int
    payload: RecordPayload
    keys: list[str]


@dataclass
class Fact:
    keys: set[str]
    recorded: int
    withdrawn: list[int] = field(default_factory=list)

    def in_force(self, moment: int | None) -> bool:
        if moment is None:
            return not self.withdrawn
        return self.recorded <= moment and not any(w <= moment for w in self.withdrawn)


@dataclass
class Log:
    records: list[LoggedRecord] = field(default_factory=list)
    facts: dict[str, Fact] = field(default_factory=dict)
    first_seen: dict[str, int] = field(default_factory=dict)


def _keys(idents) -> list[str]:
    found = []
    for ident in idents:
        for key in ident.strong_keys():
            if key not in found:
                found.append(key)
    return found


def read_log(services) -> Log:
    """Replay every stored event in log order."""
    log = Log()
    notifications = services.ledger.recorder.select_notifications(start=0, limit=10**9, inclusive_of_start=False)
    for leaf, notification in enumerate(notifications):
        event = services.ledger.mapper.to_domain_event(notification)
        at = micros(event.timestamp)
        if isinstance(event, Record.Recorded):
            payload = parse_payload(json.loads(base64.b64decode(event.payload)))
            named = _keys(([payload.subject] if payload.subject else []) + list(payload.same_child))
            keys = named
            if not named and payload.amends:
                keys = next(r.keys for r in log.records
                            if (r.payload.agency, r.payload.record_id) == (payload.agency, payload.amends))  # fmt: skip
            log.records.append(LoggedRecord(leaf, at, payload, keys))
            _see(log, named, at)
            if payload.amends:
                _withdraw(log, str(record_aggregate_id(payload.agency, payload.amends)), at)
            if len(named) >= 2:
                log.facts[str(event.originator_id)] = Fact(set(named), at)
        elif isinstance(event, IdentityLink.Linked):
            named = _keys(ChildIdentifiers(**ident) for ident in event.identifiers)
            _see(log, named, at)
            log.facts[str(event.originator_id)] = Fact(set(named), at)
        elif isinstance(event, IdentityLink.Unlinked):
            _withdraw(log, str(event.originator_id), at)
        elif isinstance(event, RecordLinkWithdrawal.Withdrawn):
            _withdraw(log, str(record_aggregate_id(event.agency, event.record_id)), at)
    return log


def _see(log: Log, keys: list[str], at: int) -> None:
    for key in keys:
        log.first_seen.setdefault(key, at)


def _withdraw(log: Log, fact_id: str, at: int) -> None:
    if fact_id in log.facts:
        log.facts[fact_id].withdrawn.append(at)


def naive_component(log: Log, key: str, moment: int | None) -> set[str] | None:
    """Every key joined to ``key`` by facts in force at ``moment``; None if not yet seen then."""
    if key not in log.first_seen or (moment is not None and log.first_seen[key] > moment):
        return None
    reached = {key}
    changed = True
    while changed:
        changed = False
        for fact in log.facts.values():
            if fact.in_force(moment) and fact.keys & reached and not fact.keys <= reached:
                reached |= fact.keys
                changed = True
    return reached


def naive_chronology(log: Log, key: str, moment: int | None) -> list[tuple[str, str, str, int]] | None:
    """``(agency, record_id, status, leaf index)`` of the child ``key`` names, as known at ``moment``."""
    component = naive_component(log, key, moment)
    if component is None:
        return None
    known = [r for r in log.records if moment is None or r.recorded <= moment]
    rows = []
    for record in known:
        if not set(record.keys) & component:
            continue
        p = record.payload

        def marked(kind: str) -> bool:
            return any(o.payload.type == kind and o.payload.agency == p.agency and o.payload.amends == p.record_id
                       for o in known)  # fmt: skip

        status = "retracted" if marked("retraction") else "superseded" if marked("amendment") else "current"
        position = micros(p.occurred_at.instant) if p.occurred_at else record.recorded
        rows.append(((position, record.leaf), (p.agency, p.record_id, status, record.leaf)))
    return [row for _, row in sorted(rows)]
