"""Risk prompts: the rules of projections/risk_rules.py over a child's chronology, with decisions.

Prompts are evaluated when asked, over the chronology as known at that moment, so every view "as at
T" (an inquiry's question: what could have been seen then?) shows exactly the prompts the records
and identity links recorded by T raise, each with the decisions practitioners had recorded on it by
then. The read model kept here is the decisions, which are commands on the ledger
(domain/decisions.py). A prompt's ``raised_at`` is the moment its last record joined the child's
chronology: recorded, and linked to the child.

A decision's ``decided_by`` is the readable name the entry gives: since SPEC 6.1 the holder, role
and council ("Sam Example (practitioner, council 309)"), the structured holder, role, scope and token
id staying in the entry's ``by``. Decisions recorded before then named a token instead; ``shown_by``
is what a page shows for either, never a token id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Connection, Integer, String, Table, Text, insert, select

from domain.decisions import PromptDecision, prompt_id_for
from domain.entries import format_time
from projections.chronology import child_view, entry_keys_among, entry_rows, status_at
from projections.db import metadata
from projections.identity import chunks, from_micros, keys, to_micros
from projections.risk_rules import RULES, Rule, RuleRow
from projections.runner import LogItem

decisions = Table(
    "risk_decisions",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("decision_id", String(36), nullable=False, unique=True),
    Column("prompt_id", String(36), nullable=False, index=True),
    Column("child_id", String(36), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_by", String(200), nullable=False),
    Column("decided_us", BigInteger, nullable=False),
)


class RiskProjection:
    """Keeps every decision recorded on a prompt."""

    name = "risk"
    tables = (decisions,)

    # Every PromptDecision.Decided, version 1 or 2 (Decided.v2 extends it), gives one row: the
    # readable decided_by of either version, so rows already stored equal a rebuild from the log.

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        rows = [
            {
                "notification_id": item.notification_id,
                "decision_id": str(item.event.originator_id),
                "prompt_id": item.event.prompt_id,
                "child_id": item.event.child_id,
                "rule": item.event.rule,
                "rule_version": item.event.rule_version,
                "decision": item.event.decision,
                "reason": item.event.reason,
                "decided_by": item.event.decided_by,
                "decided_us": to_micros(item.event.timestamp),
            }
            for item in items
            if isinstance(item.event, PromptDecision.Decided)
        ]
        if rows:
            conn.execute(insert(decisions), rows)


#: How version 1 decisions named their maker: role, token id and council (api/usecases/children.py
#: ``acting_as`` before SPEC 6.1).
_TOKEN_NAMED = re.compile(r"(\w+) token [0-9a-f]{16} \(local authority (\d{3}|None)\)")


@dataclass(frozen=True, slots=True)
class Decision:
    """A practitioner's decision on a prompt."""

    decision_id: str
    decision: str
    reason: str
    decided_by: str
    decided_at: datetime
    order: int = 0  # the decision's place in the log: breaks ties in time

    @property
    def shown_by(self) -> str:
        """Who decided, for a page: ``decided_by``, except that a decision recorded before holders
        were named, which named a token, shows its role and council instead of the token id."""
        old = _TOKEN_NAMED.fullmatch(self.decided_by)
        if old is None:
            return self.decided_by
        council = "" if old.group(2) == "None" else f", council {old.group(2)}"
        return f"unnamed holder ({old.group(1)}{council}; recorded before holders were named)"

    def to_dict(self) -> dict:
        return {"decision_id": self.decision_id, "decision": self.decision, "reason": self.reason,
                "decided_by": self.decided_by, "decided_at": format_time(self.decided_at)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Prompt:
    """A rule's prompt for professional review: never a verdict, always with the records behind it.

    One prompt per rule and child: every group of records the rule finds is merged into it, so a
    practitioner sees "repeated domestic abuse" once with all its incidents. ``occurred_from`` and
    ``occurred_to`` are the records' dates as the agencies wrote them (earliest, latest). ``state``
    is ``open`` until a decision is recorded, then the latest decision by the moment asked; open
    again when a record joined the prompt after that decision (the decisions stay listed).
    """

    prompt_id: str
    rule: str
    rule_version: int
    title: str
    why: str
    records: tuple[dict, ...]
    raised_at: datetime
    state: str
    decisions: tuple[Decision, ...]
    priority: int = 100
    occurred_from: str | None = None
    occurred_to: str | None = None
    former_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The JSON shape of SPEC section 3, with the prompt id, rule title, reason, decisions, the
        rule's priority and the date range of the records behind it."""
        return {
            "prompt_id": self.prompt_id, "rule": self.rule, "rule_version": self.rule_version,
            "title": self.title, "why": self.why, "priority": self.priority,
            "occurred_from": self.occurred_from, "occurred_to": self.occurred_to,
            "records": [dict(r) for r in self.records],
            "raised_at": format_time(self.raised_at), "state": self.state,
            "decisions": [d.to_dict() for d in self.decisions],
        }  # fmt: skip


def _rule_row(row) -> RuleRow:
    born = None if row.date_of_birth is None else date.fromisoformat(row.date_of_birth)
    return RuleRow(row.agency, row.record_id, row.agency_kind, row.category, from_micros(row.sort_us),
                   row.leaf_index, born)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Raised:
    """One rule's groups over the chronology, merged: all their records in time order."""

    rule: Rule
    rows: tuple[RuleRow, ...]
    group_ids: tuple[str, ...]  # the ids each group had as a prompt of its own (before merging)
    raised_us: int

    @property
    def records(self) -> list[tuple[str, str]]:
        return [(r.agency, r.record_id) for r in self.rows]

    @property
    def prompt_id(self) -> str:
        return prompt_id_for(self.rule.id, self.rule.version, self.records)


def _merged(rule: Rule, groups: Sequence[Sequence[RuleRow]], placed: dict, in_force: list) -> _Raised:
    rows = sorted({(r.agency, r.record_id): r for group in groups for r in group}.values(),
                  key=lambda r: (r.occurred, r.position))  # fmt: skip
    group_ids = tuple(prompt_id_for(rule.id, rule.version, [(r.agency, r.record_id) for r in g]) for g in groups)
    raised_us = joined_at([placed[(r.agency, r.record_id)] for r in rows], in_force)
    return _Raised(rule, tuple(rows), group_ids, raised_us)


def risk_prompts(
    conn: Connection, child_id: str, *, as_of: datetime | None = None, rules: Sequence[Rule] = RULES
) -> list[Prompt]:
    """The prompts the rules raise over a child's chronology as known at ``as_of`` (None: now), by
    the rules' priority, then the latest records first; each with its decisions recorded by then.
    NotFound for an unknown id.

    Rules read the entries that are current then (superseded and retracted ones no longer count),
    of type concern or amendment, with a category and an ``occurred_at``. A rule's groups are one
    prompt; its id is that of its rule, version and records (domain/decisions.py), and the decisions
    shown on it include those recorded on any prompt this one merges or grew from: the prompts each
    group was before merging, and earlier prompts of the same rule and version for this child (a
    decision names the child it was made on, which stays one of the child's ids).
    """
    component = child_view(conn, child_id, as_of, with_facts=True)
    if component is None:
        return []
    at_us = None if as_of is None else to_micros(as_of)
    rows = entry_rows(conn, component.child.keys, at_us)
    named = entry_keys_among(conn, component.child.keys)
    placed = {(row.agency, row.record_id): (row.recorded_us, named.get(row.notification_id, [])) for row in rows}
    written = {(row.agency, row.record_id): row.occurred_at for row in rows}
    current = [row for row in rows if row.type in ("concern", "amendment") and row.category and row.occurred_at
               and status_at(row, at_us) == "current"]  # fmt: skip
    rule_rows = [_rule_row(row) for row in current]
    in_force = sorted((component.facts or {}).values())
    raised = [_merged(rule, groups, placed, in_force) for rule in rules if (groups := rule.evaluate(rule_rows))]
    history = _decisions(conn, raised, _child_ids(conn, component.child.keys), at_us)
    prompts = [_prompt(item, history.get(item.rule.id, []), written) for item in raised]
    return sorted(prompts, key=lambda p: (p.priority, -to_micros(p.raised_at), p.rule))


def _prompt(item: _Raised, history: list[Decision], written: dict) -> Prompt:
    rule, taken = item.rule, tuple(history)
    reopened = not taken or to_micros(taken[-1].decided_at) < item.raised_us
    return Prompt(
        item.prompt_id, rule.id, rule.version, rule.title, rule.why,
        tuple({"agency": agency, "record_id": record_id} for agency, record_id in item.records),
        from_micros(item.raised_us), "open" if reopened else taken[-1].decision, taken, rule.priority,
        written[item.records[0]], written[item.records[-1]], tuple(sorted(set(item.group_ids) - {item.prompt_id})),
    )  # fmt: skip


def joined_at(records: Sequence[tuple[int, Sequence[str]]], facts: Sequence[tuple[int, list[str]]]) -> int:
    """The first moment from which the records (``(recorded_us, keys)`` each) were all recorded and
    one child: some component of the ``facts`` (``(recorded_us, keys)`` each, sorted) still in force
    holds one of the child's keys of every one of them. This is
    a prompt's ``raised_at``, the same whichever of the child's identifiers it is read under. Facts
    are joined in time order (Kruskal-style); a record never bridges its keys, only facts do."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while key in parent:
            key = parent[key]
        return key

    def one_child() -> bool:
        common = {find(k) for k in records[0][1]}
        for _, named in records[1:]:
            common &= {find(k) for k in named}
        return bool(common)

    def join(members: Sequence[str]) -> None:
        roots = {find(m) for m in members}
        first = roots.pop()
        for root in roots:
            parent[root] = first

    latest = max(t for t, _ in records)
    steps = facts
    for _, members in (step for step in steps if step[0] <= latest):
        join(members)
    if one_child():
        return latest
    for moment, members in (step for step in steps if step[0] > latest):
        join(members)
        if one_child():
            return moment
    raise LookupError("records not joined as one child")  # cannot happen: they are on one chronology


def _child_ids(conn: Connection, child_keys: Sequence[str]) -> set[str]:
    """Every id the child has been given: one per identity key (the id it gave at first sight)."""
    found: set[str] = set()
    for part in chunks(child_keys):
        found.update(conn.execute(select(keys.c.own_id).where(keys.c.key.in_(part))).scalars())
    return found


def _decisions(
    conn: Connection, raised: Sequence[_Raised], child_ids: set[str], at_us: int | None
) -> dict[str, list[Decision]]:
    """The decisions recorded by ``at_us`` on each rule's prompt, oldest first: on its id or the ids
    of the groups it merges, or on the same rule and version for one of the child's ids (a prompt
    before it gained records)."""
    by_id = {pid: item.rule.id for item in raised for pid in (item.prompt_id, *item.group_ids)}
    versions = {(item.rule.id, item.rule.version) for item in raised}
    found: dict[str, dict[str, Decision]] = {}

    def keep(rule: str, row) -> None:
        found.setdefault(rule, {})[row.decision_id] = Decision(
            row.decision_id, row.decision, row.reason, row.decided_by, from_micros(row.decided_us), row.notification_id
        )

    queries = [select(decisions).where(decisions.c.prompt_id.in_(part)) for part in chunks(by_id)]
    queries += [select(decisions).where(decisions.c.child_id.in_(part)) for part in chunks(child_ids)]
    for query in queries:
        if at_us is not None:
            query = query.where(decisions.c.decided_us <= at_us)
        for row in conn.execute(query):
            if row.prompt_id in by_id:
                keep(by_id[row.prompt_id], row)
            elif (row.rule, row.rule_version) in versions:
                keep(row.rule, row)
    return {rule: sorted(taken.values(), key=lambda d: (d.decided_at, d.order)) for rule, taken in found.items()}


def find_prompt(conn: Connection, child_id: str, prompt_id: str) -> Prompt | None:
    """The child's prompt with this id as raised now, or None: what to check before recording a
    decision on it (domain/decisions.py ``record_decision``)."""
    return next((p for p in risk_prompts(conn, child_id) if prompt_id in (p.prompt_id, *p.former_ids)), None)
