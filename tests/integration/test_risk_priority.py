"""Prompts by severity: rules carry a priority, one prompt per rule and child with all its records
and their date range, and decisions recorded on the prompts it merges or grew from stay shown.

Decisions are log entries against a prompt id; merging changed which ids a page shows, so these
tests record decisions exactly as a client did before (on a single group's id) and check they are
still on the merged prompt, now and as known at any moment, and after a rebuild from the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from domain.decisions import prompt_id_for, record_decision
from projections.identity import resolve_child
from projections.risk import find_prompt, risk_prompts
from projections.risk_rules import RULES
from tests.fictional_case import (
    HEALTH,
    HOUSING,
    NHS,
    POLICE,
    SOCIAL_CARE,
    agencies,  # noqa: F401  (fixture)
    concern,
    identity_link,
)

BORN = "2026-01-20"
INFANT = {"nhs_number": NHS[1], "given_name": "Ava", "family_name": "Quinn", "date_of_birth": BORN}
RULE = "non_mobile_infant_injury"


def _prompts(services, as_of=None):
    with services.engine.connect() as conn:
        return risk_prompts(conn, resolve_child(conn, nhs_number=NHS[1]).id, as_of=as_of)


def _decide(services, prompt_id: str, records: list[tuple[str, str]], decision: str = "acknowledged"):
    receipt = record_decision(
        services.ledger, prompt_id=prompt_id, child_id="fictional-child", rule=RULE, rule_version=1,
        records=[{"agency": a, "record_id": r} for a, r in records], decision=decision,
        reason="Fictional: seen; visit booked.", by="sw-12 (fictional)",
    )  # fmt: skip
    services.runner.catch_up()
    return receipt


def test_every_rule_has_its_own_priority_and_the_non_mobile_infant_comes_first() -> None:
    by_priority = sorted(RULES, key=lambda rule: rule.priority)
    assert by_priority[0].id == RULE
    assert len({rule.priority for rule in RULES}) == len(RULES)
    assert [r.id for r in by_priority[:3]] == [RULE, "household_change_then_injury", "repeated_domestic_abuse"]


def test_prompts_are_ordered_by_priority_not_by_when_they_were_raised(services, agencies) -> None:
    agencies.submit(
        concern(HOUSING, "HSG-1", {"local_id": "T-1"}, "2026-02-20", "household_change"),
        concern(POLICE, "NP-1", {"local_id": "NP-P-1"}, "2026-02-27T01:30:00+00:00", "domestic_abuse"),
        concern(HEALTH, "HV-1", INFANT, "2026-03-02T10:15:00+00:00", "physical_injury"),
        identity_link(SOCIAL_CARE, "MASH-1", [{"nhs_number": NHS[1]}, {"agency": POLICE, "local_id": "NP-P-1"},
                                              {"agency": HOUSING, "local_id": "T-1"}]),
    )  # fmt: skip
    prompts = _prompts(services)
    assert [p.rule for p in prompts] == [RULE, "household_change_then_injury", "multi_agency_concerns"]
    assert [p.to_dict()["priority"] for p in prompts] == [1, 2, 5]


def test_one_rule_gives_one_prompt_with_all_its_records_and_their_date_range(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "HV-1", INFANT, "2026-02-02", "physical_injury"),
                    concern(HEALTH, "HV-2", INFANT, "2026-03-02T10:15:00+00:00", "physical_injury"))  # fmt: skip
    (prompt,) = _prompts(services)
    assert [r["record_id"] for r in prompt.records] == ["HV-1", "HV-2"]
    body = prompt.to_dict()
    assert (body["occurred_from"], body["occurred_to"]) == ("2026-02-02", "2026-03-02T10:15:00+00:00")
    assert body["prompt_id"] == prompt_id_for(RULE, 1, [(HEALTH, "HV-1"), (HEALTH, "HV-2")])


def test_a_decision_on_a_merged_groups_former_id_stays_on_the_merged_prompt(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "HV-1", INFANT, "2026-02-02", "physical_injury"),
                    concern(HEALTH, "HV-2", INFANT, "2026-03-02", "physical_injury"))  # fmt: skip
    former = prompt_id_for(RULE, 1, [(HEALTH, "HV-1")])  # the id HV-1 had as a prompt of its own
    receipt = _decide(services, former, [(HEALTH, "HV-1")], "escalated")
    (prompt,) = _prompts(services)
    assert prompt.prompt_id != former and former in prompt.former_ids
    assert [d.decision_id for d in prompt.decisions] == [receipt.decision_id] and prompt.state == "escalated"
    with services.engine.connect() as conn:  # a client posting the former id still finds its prompt
        child = resolve_child(conn, nhs_number=NHS[1])
        assert find_prompt(conn, child.id, former).prompt_id == prompt.prompt_id
    (before,) = _prompts(services, as_of=receipt.decided_at - timedelta(microseconds=1))
    assert before.decisions == () and before.state == "open"


def test_a_prompt_that_gains_a_record_keeps_its_decisions_and_opens_again(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "HV-1", INFANT, "2026-02-02", "physical_injury"))
    (first,) = _prompts(services)
    receipt = _decide(services, first.prompt_id, [(HEALTH, "HV-1")])
    assert _prompts(services)[0].state == "acknowledged"
    decided = datetime.now(timezone.utc)
    agencies.submit(concern(HEALTH, "HV-2", INFANT, "2026-03-02", "physical_injury"))
    (grown,) = _prompts(services)
    assert grown.prompt_id != first.prompt_id and len(grown.records) == 2
    assert [d.decision_id for d in grown.decisions] == [receipt.decision_id]
    assert grown.state == "open"  # a new record since the decision: review it again
    (then,) = _prompts(services, as_of=decided)
    assert then.prompt_id == first.prompt_id and then.state == "acknowledged"


def test_merged_prompts_and_their_decisions_are_rebuilt_the_same_from_the_log(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "HV-1", INFANT, "2026-02-02", "physical_injury"),
                    concern(HEALTH, "HV-2", INFANT, "2026-03-02", "physical_injury"))  # fmt: skip
    _decide(services, prompt_id_for(RULE, 1, [(HEALTH, "HV-2")]), [(HEALTH, "HV-2")])
    before = [p.to_dict() for p in _prompts(services)]
    for name in ("identity", "chronology", "risk"):
        services.runner.rebuild(name)
    assert [p.to_dict() for p in _prompts(services)] == before
