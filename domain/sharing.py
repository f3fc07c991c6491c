"""Sharing decisions by practitioners: "shared with <whom> because <why>", or "decided not to share".

Golden rule 7 of the information-sharing advice: record the decision not to share as well as what
was shared, with whom and why. An agency records its own as a signed ``sharing_decision`` record
(domain/records.py); a practitioner's is, like a decision on a prompt or an identity link, an entry
of the log the ledger signs, naming who made it (SPEC 6.1). Each is its own aggregate, so two
practitioners recording at once both stand, in log order; none can be edited afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidPayload
from domain.identifiers import MAX_NAME
from domain.records import SHARING_DECISIONS
from domain.text import check_printable, check_reference, check_text
from domain.tokens import Actor

MAX_REASON = 2000


class SharingDecision(Aggregate):
    """One practitioner's decision to share information about a child, or not to."""

    TOPIC = "safeguarding-ledger:SharingDecision"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:SharingDecision.Created"

    class Decided(Aggregate.Created):
        """A practitioner recorded a sharing decision; ``timestamp`` is when the ledger recorded it."""

        TOPIC = "safeguarding-ledger:SharingDecision.Decided.v1"
        ENTRY_KIND = "sharing_decision"

        child_id: str
        decision: str
        recipient: str | None
        reason: str
        decided_by: str
        by: dict

        def entry_fields(self) -> dict:
            return {"child_id": self.child_id, "decision": self.decision, "recipient": self.recipient,
                    "reason": self.reason, "decided_by": self.decided_by, "by": self.by}  # fmt: skip

    @event(Decided)
    def __init__(self, child_id: str, decision: str, recipient: str | None, reason: str, decided_by: str,
                 by: dict) -> None:  # fmt: skip
        self.child_id = child_id
        self.decision = decision
        self.recipient = recipient
        self.reason = reason
        self.decided_by = decided_by
        self.by = by


@dataclass(frozen=True, slots=True)
class SharingReceipt:
    """What the caller gets back: the decision's id and when the ledger recorded it."""

    decision_id: str
    decided_at: datetime


def check_sharing(decision: object, recipient: object, reason: object) -> None:
    """InvalidPayload unless the decision is one of SHARING_DECISIONS, names a recipient (one line)
    exactly when it is ``shared``, and gives a reason (free text, 1 to MAX_REASON characters)."""
    if decision not in SHARING_DECISIONS:
        raise InvalidPayload(f"decision must be one of {', '.join(SHARING_DECISIONS)}")
    if (recipient is not None) != (decision == "shared"):
        raise InvalidPayload("name the recipient exactly when the information was shared")
    if recipient is not None:
        check_printable(recipient, "recipient", MAX_NAME)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidPayload("give the reason for the decision: it is recorded with it")
    check_text(reason, "reason", MAX_REASON)


def record_sharing(
    ledger: Application, *, child_id: str, decision: str, recipient: str | None, reason: str, by: Actor
) -> SharingReceipt:
    """Append a practitioner's sharing decision about a child (whether the child is theirs to decide
    on is the caller's check). Everything is checked before anything is stored."""
    check_sharing(decision, recipient, reason)
    check_reference(child_id, "child_id")
    actor = by.check()
    aggregate = SharingDecision(child_id=child_id, decision=decision, recipient=recipient, reason=reason,
                                decided_by=actor.shown(), by=actor.as_entry())  # fmt: skip
    ledger.save(aggregate)
    return SharingReceipt(str(aggregate.id), aggregate.created_on)

