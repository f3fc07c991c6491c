"""Practitioners' sharing decisions (domain/sharing.py) as the chronology read model keeps them: by
the child id they were recorded under, listed with the child's chronology and its access history.
The chronology projection (projections/chronology.py) writes the rows; this module says what they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, Connection, String, Table, Text, select

from domain.entries import format_time
from projections.db import metadata
from projections.identity import from_micros, to_micros
from projections.runner import LogItem

sharing = Table(
    "chronology_sharing",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_index", BigInteger, nullable=False),
    Column("decision_id", String(36), nullable=False),
    Column("child_id", String(128), nullable=False, index=True),
    Column("decision", String(16), nullable=False),
    Column("recipient", String(200)),
    Column("reason", Text, nullable=False),
    Column("decided_by", String(200), nullable=False),
    Column("at_us", BigInteger, nullable=False),
)


def sharing_row(item: LogItem, leaf_index: int) -> dict:
    """The row of one SharingDecision.Decided event at ``leaf_index``."""
    event = item.event
    return {"notification_id": item.notification_id, "leaf_index": leaf_index,
            "decision_id": str(event.originator_id), "child_id": event.child_id, "decision": event.decision,
            "recipient": event.recipient, "reason": event.reason, "decided_by": event.decided_by,
            "at_us": to_micros(event.timestamp)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SharingNote:
    """A practitioner's sharing decision on a child: shared with whom and why, or not shared."""

    decision_id: str
    decision: str
    recipient: str | None
    reason: str
    decided_by: str
    recorded_at: datetime
    leaf_index: int

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["recorded_at"] = format_time(self.recorded_at)
        return data


def sharing_notes(conn: Connection, child_ids: Sequence[str], as_of: datetime | None = None) -> list[SharingNote]:
    """Practitioners' sharing decisions recorded (by ``as_of``) under any of ``child_ids`` (a child's
    ids, past and present), oldest first."""
    query = select(sharing).where(sharing.c.child_id.in_(list(child_ids)[:1000])).order_by(sharing.c.notification_id)
    if as_of is not None:
        query = query.where(sharing.c.at_us <= to_micros(as_of))
    return [SharingNote(row.decision_id, row.decision, row.recipient, row.reason, row.decided_by,
                        from_micros(row.at_us), row.leaf_index) for row in conn.execute(query)]  # fmt: skip
