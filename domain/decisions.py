"""Decisions on risk prompts: a practitioner acknowledges, escalates or dismisses one, with a reason.

A prompt is a named rule pointing at records for professional review, never a verdict. What a
professional then decided, why and who, is as much part of the child's record as the concerns, so
each decision is a command on the ledger: an event in the log and a leaf of the Merkle tree, never a
row someone could later edit. Each decision is its own aggregate, so two practitioners deciding at
once both stand, in log order.

Who decided: version 1 decisions name the actor in one line of text (``decided_by``); version 2
(``Decided.v2``, written whenever the caller names an ``Actor``) keep that line, now the holder's
readable name, role and council, and add ``by``: the holder, role, scope and token id as structured
fields (SPEC section 6.1). Version 1 events stay decodable and keep their entry bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from domain.agencies import check_agency_id, name_uuid
from domain.errors import InvalidPayload
from domain.text import check_printable, check_reference, check_text
from domain.tokens import Actor

DECISIONS = ("acknowledged", "escalated", "dismissed")
PROMPT_NAMESPACE = uuid.UUID("3b0e6f7a-91c2-5d4e-8f1a-6c2d9e4b7a35")
MAX_REASON = 2000
MAX_BY = 200


def prompt_id_for(rule: str, rule_version: int, records: Iterable[tuple[str, str]]) -> str:
    """The stable id of a prompt: uuid5 of its rule, rule version and the set of ``(agency, record_id)``
    behind it. The same records under the same rule version always give the same prompt, whichever
    child id they are read under; a prompt that gains a record is a new prompt, open for review."""
    parts = sorted(f"{agency}\x1f{record_id}" for agency, record_id in records)
    return str(name_uuid(PROMPT_NAMESPACE, "\x1e".join([rule, str(rule_version), *parts])))


class PromptDecision(Aggregate):
    """One practitioner's decision on one prompt."""

    TOPIC = "safeguarding-ledger:PromptDecision"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:PromptDecision.Created"

    class Decided(Aggregate.Created):
        """A practitioner decided on a prompt; ``timestamp`` is when the ledger recorded it."""

        TOPIC = "safeguarding-ledger:PromptDecision.Decided.v1"
        ENTRY_KIND = "prompt_decision"

        prompt_id: str
        child_id: str
        rule: str
        rule_version: int
        records: list[dict]
        decision: str
        reason: str
        decided_by: str

        def entry_fields(self) -> dict:
            return {
                "prompt_id": self.prompt_id,
                "child_id": self.child_id,
                "rule": self.rule,
                "rule_version": self.rule_version,
                "records": self.records,
                "decision": self.decision,
                "reason": self.reason,
                "decided_by": self.decided_by,
            }

    class DecidedV2(Decided):
        """A decision naming its actor as structured fields: ``by`` is ``Actor.as_entry()`` and
        ``decided_by`` its readable form (``Actor.shown()``), what read models display."""

        TOPIC = "safeguarding-ledger:PromptDecision.Decided.v2"

        by: dict

        def entry_fields(self) -> dict:
            return {**super().entry_fields(), "by": self.by}

    @event(Decided)
    def __init__(
        self,
        prompt_id: str,
        child_id: str,
        rule: str,
        rule_version: int,
        records: list[dict],
        decision: str,
        reason: str,
        decided_by: str,
    ) -> None:
        self.prompt_id = prompt_id
        self.child_id = child_id
        self.rule = rule
        self.rule_version = rule_version
        self.records = records
        self.decision = decision
        self.reason = reason
        self.decided_by = decided_by


@dataclass(frozen=True, slots=True)
class DecisionReceipt:
    """What the caller gets back: the decision's own id and when the ledger recorded it."""

    decision_id: str
    prompt_id: str
    decision: str
    decided_at: datetime


def record_decision(
    ledger: Application,
    *,
    prompt_id: str,
    child_id: str,
    rule: str,
    rule_version: int,
    records: Iterable[Mapping[str, str]],
    decision: str,
    reason: str,
    by: str | Actor,
) -> DecisionReceipt:
    """Append a decision on a prompt to the log.

    ``records`` are the prompt's ``{"agency", "record_id"}`` objects; together with ``rule`` and
    ``rule_version`` they must give ``prompt_id`` (see :func:`prompt_id_for`), so a decision always names
    exactly what it was about. Whether the prompt is currently raised for the child is the caller's
    check (projections/risk.py knows, the domain does not). ``by`` names the practitioner: an
    ``Actor`` (a version 2 decision) or, as before SPEC 6.1, one line of text (version 1).
    """
    if decision not in DECISIONS:
        raise InvalidPayload(f"decision must be one of {', '.join(DECISIONS)}")
    check_text(reason, "reason", MAX_REASON)
    shown = by.check().shown() if isinstance(by, Actor) else by
    check_printable(shown, "by", MAX_BY)
    check_reference(prompt_id, "prompt_id")
    check_reference(rule, "rule")
    check_reference(child_id, "child_id")
    if not isinstance(rule_version, int) or isinstance(rule_version, bool) or rule_version < 1:
        raise InvalidPayload("rule_version must be a positive integer")
    pairs = []
    for item in records:
        if not isinstance(item, Mapping) or set(item) != {"agency", "record_id"}:
            raise InvalidPayload("each record must be an object with agency and record_id")
        pairs.append((check_agency_id(item["agency"], "agency"), check_reference(item["record_id"], "record_id")))
    if not pairs:
        raise InvalidPayload("a prompt names at least one record")
    if prompt_id != prompt_id_for(rule, rule_version, pairs):
        raise InvalidPayload("prompt_id does not match the rule, version and records given")
    fields = {
        "prompt_id": prompt_id,
        "child_id": child_id,
        "rule": rule,
        "rule_version": rule_version,
        "records": [{"agency": agency, "record_id": record_id} for agency, record_id in pairs],
        "decision": decision,
        "reason": reason,
        "decided_by": shown,
    }
    if isinstance(by, Actor):
        aggregate = PromptDecision._create(PromptDecision.DecidedV2, **fields, by=by.as_entry())
    else:
        aggregate = PromptDecision(**fields)
    ledger.save(aggregate)
    return DecisionReceipt(str(aggregate.id), prompt_id, decision, aggregate.created_on)
