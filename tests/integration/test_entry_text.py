"""SPEC 6.6 for the entries no agency signs: access entries, decisions, links and unlinks, agency
names and revocation reasons. Given any Unicode text in any one field, the command is refused with
InvalidPayload naming the field (and saves nothing) exactly when the text breaks the rule, and
otherwise the entry it saves carries the text unchanged. Pure: a stand-in ledger records saves."""

from __future__ import annotations

import re
from collections.abc import Callable

from eventsourcing.application import AggregateNotFoundError
from hypothesis import given, settings, strategies as st

from domain.access import log_access
from domain.agencies import Agency, agency_aggregate_id
from domain.decisions import prompt_id_for, record_decision
from domain.entries import decode_entry, entry_bytes
from domain.errors import InvalidPayload, NotFound
from domain.links import link_identities, unlink_identities
from tests.unicode_text import encodable, free_text_ok, line_ok, texts

AGENCY = "northshire-police"
CHILD = "1b4e28ba-2fa1-51d2-883f-0016d3cca427"


class _Repository:
    """Knows which agencies are registered; holds no records or links."""

    def __init__(self, agencies: set) -> None:
        self.agencies = agencies

    def __contains__(self, aggregate_id) -> bool:
        return aggregate_id in self.agencies

    def get(self, aggregate_id):
        raise AggregateNotFoundError(aggregate_id)


class StandIn:
    """What the commands need of a ledger: ``save`` and a ``repository``."""

    def __init__(self) -> None:
        self.saved: list = []
        self.repository = _Repository({agency_aggregate_id("northshire-health")})

    def save(self, *aggregates) -> None:
        self.saved.extend(aggregates)

    def entries(self) -> list[dict]:
        return [decode_entry(entry_bytes(e)) for a in self.saved for e in a.collect_events()]


def access(ledger, text: str, where: str) -> None:
    fields = {"token_id": "0123456789abcdef", "role": "practitioner", "child": CHILD, "agency": None,
              "local_authority": "309", "query": {"nhs_number": "9434765919"}, "reason": "Fictional reason."}  # fmt: skip
    if where == "query value":
        fields["query"] = {"local_id": text}
    elif where == "query name":
        fields["query"] = {text: "L-1"}
    else:
        fields[where] = text
    log_access(ledger, read="chronology", break_glass=True, **fields)


def decision(ledger, text: str, where: str) -> None:
    fields = {"child_id": CHILD, "rule": "repeated_neglect", "reason": "Reviewed.", "by": "practitioner token x"}
    records = [{"agency": AGENCY, "record_id": "ref-1"}]
    if where.startswith("records"):
        records = [{**records[0], where.split(".")[1]: text}]
    else:
        fields[where] = text
    prompt = prompt_id_for(fields["rule"], 1, [(r["agency"], r["record_id"]) for r in records])
    record_decision(ledger, prompt_id=prompt, rule_version=1, records=records, decision="escalated", **fields)


def link(ledger, text: str, where: str) -> None:
    fields = {"by": "practitioner token x", "reason": "Same child, confirmed."}
    second = {"local_id": "H-1", "agency": "northshire-health"}
    if where == "local_id":
        second["local_id"] = text
    else:
        fields[where] = text
    link_identities(ledger, [{"nhs_number": "9434765919"}, second], **fields)


def unlink(ledger, text: str, where: str) -> None:
    fields = {"by": "practitioner token x", "reason": "Not the same child.", "agency": AGENCY, "record_id": "ref-1"}
    fields[where] = text
    unlink_identities(ledger, **fields)


# (command, field, how a refusal names it, entry field that keeps it, rule, max length)
CASES: list[tuple[Callable, str, str, str | None, str, int]] = [
    (access, "reason", "break-glass reason", "reason", "free", 1000),
    (access, "token_id", "token_id", "token_id", "line", 128),
    (access, "role", "role", "role", "line", 64),
    (access, "child", "child", "child", "line", 128),
    (access, "query value", "query parameter local_id", None, "line", 256),
    (access, "query name", "query parameter name", None, "line", 64),
    (access, "agency", "agency", "agency", "agency", 64),
    (access, "local_authority", "local_authority", "local_authority", "council", 3),
    (decision, "reason", "reason", "reason", "free", 2000),
    (decision, "by", "by", "decided_by", "line", 200),
    (decision, "rule", "rule", "rule", "line", 128),
    (decision, "child_id", "child_id", "child_id", "line", 128),
    (decision, "records.record_id", "record_id", None, "line", 128),
    (decision, "records.agency", "agency", None, "agency", 64),
    (link, "reason", "reason", "reason", "free", 2000),
    (link, "by", "by", "linked_by", "line", 200),
    (link, "local_id", "identifiers[1].local_id", None, "line", 128),
    (unlink, "reason", "reason", None, "free", 2000),
    (unlink, "by", "by", None, "line", 200),
    (unlink, "agency", "agency", None, "agency", 64),
    (unlink, "record_id", "record_id", None, "line", 128),
]


def follows_rule(text: str, rule: str, max_length: int) -> bool:
    if rule == "agency":  # SPEC: a registered agency id, a lowercase ASCII slug
        return re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", text, re.ASCII) is not None
    if rule == "council":
        return len(text) == 3 and all(c in "0123456789" for c in text)
    return (free_text_ok if rule == "free" else line_ok)(text) and 1 <= len(text) <= max_length


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CASES), texts)
def test_every_text_field_of_every_unsigned_entry_is_refused_by_name_or_kept(case, text):
    command, where, named, entry_field, rule, max_length = case
    ledger = StandIn()
    try:
        command(ledger, text, where)
    except InvalidPayload as refusal:
        message = str(refusal)
        assert not follows_rule(text, rule, max_length), message
        assert named in message and message.isprintable() and encodable(message)
        if len(text) > 3:
            assert text not in message
        assert ledger.saved == []
        return
    except NotFound:  # unlink: the fields passed, and there is no such record to unlink
        assert command is unlink and follows_rule(text, rule, max_length)
        assert ledger.saved == []
        return
    assert follows_rule(text, rule, max_length)
    (entry,) = ledger.entries()
    if entry_field is not None:
        assert entry[entry_field] == text


@given(texts)
def test_agency_names_and_revocation_reasons(text):
    for check, rule, max_length, named in (
        (Agency.check_name, "line", 200, "agency name"),
        (Agency.check_revocation_reason, "free", 1000, "revocation reason"),
    ):
        try:
            assert check(text) == text
        except InvalidPayload as refusal:
            assert named in str(refusal) and not follows_rule(text, rule, max_length)
        else:
            assert follows_rule(text, rule, max_length)
