"""Risk prompts: rules as data over the chronology as known at a moment, and decisions on them.

The rules are checked as pure functions at their thresholds (and the windowing by a property against
brute force); the prompts through the ledger, with the fictional cases where the risk only shows once
the agencies' records are joined.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from domain.decisions import prompt_id_for, record_decision
from domain.errors import InvalidPayload
from projections.identity import resolve_child
from projections.integrity import leaves
from projections.risk import find_prompt, joined_at, risk_prompts
from projections.risk_rules import RULES, RuleRow, episodes
from tests.fictional_case import (
    HEALTH,
    HOUSING,
    NHS,
    POLICE,
    SOCIAL_CARE,
    UPN,
    agencies,  # noqa: F401  (fixture)
    amendment,
    concern,
    identity_link,
    retraction,
    school_case,
)

RULE = {rule.id: rule for rule in RULES}
DAY0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def row(day: int, category: str, agency: str = HEALTH, kind: str = "health", born: date | None = None, n: int = 0):
    return RuleRow(agency, f"{agency}-{day}-{n}", kind, category, DAY0 + timedelta(days=day), day * 10 + n, born)


def ids(groups) -> list[list[str]]:
    return [[r.record_id for r in group] for group in groups]


# The rules as pure functions ----------------------------------------------------------------------


def test_was_not_brought_twice_within_90_days_inclusive() -> None:
    rule = RULE["repeated_was_not_brought"]
    pair = [row(0, "was_not_brought"), row(90, "was_not_brought")]
    assert ids(rule.evaluate(pair)) == [[f"{HEALTH}-0-0", f"{HEALTH}-90-0"]]
    assert rule.evaluate([row(0, "was_not_brought"), row(91, "was_not_brought")]) == []
    assert rule.evaluate([row(0, "was_not_brought"), row(1, "neglect")]) == []


def test_concerns_from_two_agencies_within_30_days_ignoring_routine_contact() -> None:
    rule = RULE["multi_agency_concerns"]
    assert len(rule.evaluate([row(0, "neglect"), row(30, "neglect", POLICE, "police")])) == 1
    assert rule.evaluate([row(0, "neglect"), row(31, "neglect", POLICE, "police")]) == []
    assert rule.evaluate([row(0, "neglect"), row(5, "neglect")]) == []
    assert rule.evaluate([row(0, "routine_contact"), row(5, "neglect", POLICE, "police")]) == []
    assert rule.configured(min_agencies=3).evaluate([row(0, "neglect"), row(5, "neglect", POLICE, "police")]) == []
    with pytest.raises(InvalidPayload):
        rule.configured(minimum_agencies=3)


def test_injury_to_an_infant_under_six_months_from_any_known_date_of_birth() -> None:
    rule = RULE["non_mobile_infant_injury"]
    born = (DAY0 - timedelta(days=182)).date()
    assert len(rule.evaluate([row(0, "physical_injury", born=born)])) == 1
    assert rule.evaluate([row(1, "physical_injury", born=born)]) == []  # 183 days old
    assert rule.evaluate([row(0, "physical_injury")]) == []  # no date of birth known
    assert len(rule.evaluate([row(0, "physical_injury"), row(2, "neglect", POLICE, "police", born=born)])) == 1
    assert rule.evaluate([row(0, "neglect", born=born)]) == []


def test_household_change_then_injury_within_90_days() -> None:
    rule = RULE["household_change_then_injury"]
    assert ids(rule.evaluate([row(0, "household_change", HOUSING, "housing"), row(90, "physical_injury")])) == [
        [f"{HOUSING}-0-0", f"{HEALTH}-90-0"]]  # fmt: skip
    assert rule.evaluate([row(0, "household_change", HOUSING, "housing"), row(91, "physical_injury")]) == []
    assert rule.evaluate([row(0, "physical_injury"), row(10, "household_change", HOUSING, "housing")]) == []


def test_three_injury_attendances_at_health_within_a_year() -> None:
    rule = RULE["repeated_injury_attendances"]
    injuries = [row(0, "physical_injury"), row(200, "physical_injury"), row(365, "physical_injury")]
    assert len(rule.evaluate(injuries)) == 1
    assert rule.evaluate(injuries[:2]) == []
    assert rule.evaluate([*injuries[:2], row(300, "physical_injury", POLICE, "police")]) == []


def test_repeated_domestic_abuse_and_a_sustained_pattern_is_one_prompt() -> None:
    rule = RULE["repeated_domestic_abuse"]
    incidents = [row(day, "domestic_abuse", POLICE, "police") for day in (0, 200, 400, 1000)]
    assert ids(rule.evaluate(incidents)) == [[r.record_id for r in incidents[:3]]]


def test_a_prompt_is_raised_when_its_records_are_recorded_and_joined() -> None:
    assert joined_at([(1, ["nhs:a"]), (2, ["upn:b"])], [(5, ["nhs:a", "upn:b"])]) == 5
    assert joined_at([(1, ["nhs:a"]), (7, ["upn:b"])], [(5, ["nhs:a", "upn:b"])]) == 7
    assert joined_at([(1, ["nhs:a"]), (2, ["nhs:a"])], []) == 2
    chain = [(3, ["nhs:a", "local:p:x"]), (6, ["local:p:x", "upn:b"]), (9, ["nhs:a", "upn:b"])]
    assert joined_at([(1, ["nhs:a"]), (2, ["upn:b"])], chain) == 6
    # A record naming two identifiers does not join them itself: only facts in force do.
    assert joined_at([(1, ["nhs:a", "upn:b"]), (2, ["upn:b"]), (4, ["nhs:a"])], [(8, ["nhs:a", "upn:b"])]) == 8


windows = st.lists(st.tuples(st.integers(0, 120), st.sampled_from([POLICE, HEALTH, HOUSING])), max_size=12)


@settings(max_examples=200, deadline=None)
@given(items=windows, days=st.integers(1, 40), need=st.integers(1, 3))
def test_episodes_are_exactly_the_rows_of_qualifying_windows_merged(items, days, need) -> None:
    rows = sorted((row(day, "neglect", agency, n=i) for i, (day, agency) in enumerate(items)),
                  key=lambda r: (r.occurred, r.position))  # fmt: skip

    def qualifies(window) -> bool:
        return len({r.agency for r in window}) >= need

    groups = episodes(rows, days, qualifies)
    covered = set()
    for start in rows:
        window = [r for r in rows if start.occurred <= r.occurred <= start.occurred + timedelta(days=days)
                  and (r.occurred, r.position) >= (start.occurred, start.position)]  # fmt: skip
        if qualifies(window):
            covered |= {r.record_id for r in window}
    flat = [r.record_id for group in groups for r in group]
    assert set(flat) == covered and len(flat) == len(set(flat))
    assert flat == [r.record_id for r in rows if r.record_id in covered]


# Prompts over the ledger --------------------------------------------------------------------------


def infant_case(agencies) -> None:
    """Ava Quinn, six weeks old: housing, police and the health visitor each know a fragment."""
    agencies.submit(
        concern(HOUSING, "HSG-771", {"local_id": "T-4410", "family_name": "Quinn"}, "2026-02-20", "household_change",
                summary="Fictional: tenant reports her new partner has moved in."),
        concern(POLICE, "NP-26-0227", {"local_id": "NP-P-9001", "given_name": "Eva", "family_name": "Quin",
                                       "date_of_birth": "2026-01-20"}, "2026-02-27T01:30:00+00:00", "domestic_abuse"),
        concern(HEALTH, "HV-3303", {"nhs_number": NHS[1], "given_name": "Ava", "family_name": "Quinn",
                                    "date_of_birth": "2026-01-20"}, "2026-03-02T10:15:00+00:00", "physical_injury",
                summary="Fictional: small bruise on the forearm noted at the six-week check."),
    )  # fmt: skip


def prompts(services, as_of=None, **selector) -> dict[str, list[str]]:
    with services.engine.connect() as conn:
        child = resolve_child(conn, **selector, as_of=as_of)
        return {p.rule: [r["record_id"] for r in p.records] for p in risk_prompts(conn, child.id, as_of=as_of)}


def test_the_multi_agency_prompt_appears_only_once_police_health_and_school_are_joined(services, agencies) -> None:
    school_case(agencies, link=False)
    for selector in ({"nhs_number": NHS[0]}, {"upn": UPN[0]}, {"local_id": "NP-P-58812", "agency": POLICE}):
        assert "multi_agency_concerns" not in prompts(services, **selector)
    before_link = datetime.now(timezone.utc)
    link = agencies.submit(identity_link(SOCIAL_CARE, "MASH-1", [
        {"nhs_number": NHS[0]}, {"upn": UPN[0]}, {"agency": POLICE, "local_id": "NP-P-58812"}]))[0]  # fmt: skip
    assert prompts(services, nhs_number=NHS[0])["multi_agency_concerns"] == ["NP-24-0311", "OAK-2026-17", "ED-88123"]
    assert "multi_agency_concerns" not in prompts(services, before_link, nhs_number=NHS[0])
    with services.engine.connect() as conn:
        raised = risk_prompts(conn, resolve_child(conn, upn=UPN[0]).id)
        (prompt,) = [p for p in raised if p.rule == "multi_agency_concerns"]
    assert prompt.to_dict()["raised_at"] == link["recorded_at"] and prompt.state == "open"
    assert prompt.rule_version == 1 and prompt.records[0] == {"agency": POLICE, "record_id": "NP-24-0311"}


def test_the_infant_case_raises_its_prompts_with_their_records(services, agencies) -> None:
    infant_case(agencies)
    assert prompts(services, nhs_number=NHS[1]) == {"non_mobile_infant_injury": ["HV-3303"]}
    named = [{"nhs_number": NHS[1]}, {"agency": POLICE, "local_id": "NP-P-9001"},
             {"agency": HOUSING, "local_id": "T-4410"}]
    agencies.submit(identity_link(SOCIAL_CARE, "MASH-7", named))
    assert prompts(services, local_id="T-4410", agency=HOUSING) == {
        "household_change_then_injury": ["HSG-771", "HV-3303"],
        "multi_agency_concerns": ["HSG-771", "NP-26-0227", "HV-3303"],
        "non_mobile_infant_injury": ["HV-3303"],
    }


def test_retracted_and_superseded_records_no_longer_prompt_but_did_before(services, agencies) -> None:
    subject = {"nhs_number": NHS[1], "date_of_birth": "2026-01-20"}
    injury = concern(HEALTH, "HV-1", subject, "2026-03-02", "physical_injury")
    agencies.submit(injury)
    before = datetime.now(timezone.utc)
    agencies.submit(amendment(injury, "HV-1a", category="routine_contact"))
    assert prompts(services, nhs_number=NHS[1]) == {}
    assert prompts(services, before, nhs_number=NHS[1]) == {"non_mobile_infant_injury": ["HV-1"]}
    agencies.submit(concern(HEALTH, "HV-2", {"nhs_number": NHS[1]}, "2026-03-03", "physical_injury"))
    assert prompts(services, nhs_number=NHS[1]) == {"non_mobile_infant_injury": ["HV-2"]}
    agencies.submit(retraction(HEALTH, "HV-2r", "HV-2"))
    assert prompts(services, nhs_number=NHS[1]) == {}


def test_decisions_are_logged_and_give_the_state_as_of_when_asked(services, agencies) -> None:
    infant_case(agencies)
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=NHS[1])
        (prompt,) = risk_prompts(conn, child.id)
        size = conn.execute(select(func.count()).select_from(leaves)).scalar()
    decide = dict(prompt_id=prompt.prompt_id, child_id=child.id, rule=prompt.rule, rule_version=prompt.rule_version,
                  records=prompt.records, by="sw-12 (fictional)")  # fmt: skip
    first = record_decision(services.ledger, decision="acknowledged", reason="Fictional: seen; visit booked.", **decide)
    services.runner.catch_up()
    between = datetime.now(timezone.utc)
    record_decision(services.ledger, decision="escalated", reason="Fictional: strategy discussion.", **decide)
    services.runner.catch_up()
    with services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(leaves)).scalar() == size + 2  # each a leaf
        now = find_prompt(conn, child.id, prompt.prompt_id)
        assert now.state == "escalated" and [d.decision for d in now.decisions] == ["acknowledged", "escalated"]
        assert now.decisions[0].decision_id == first.decision_id and now.decisions[0].decided_by == "sw-12 (fictional)"
        (then,) = risk_prompts(conn, child.id, as_of=between)
        assert then.state == "acknowledged"
        (earlier,) = risk_prompts(conn, child.id, as_of=first.decided_at - timedelta(microseconds=1))
        assert earlier.state == "open" and earlier.to_dict()["decisions"] == []
        assert find_prompt(conn, child.id, "not-a-prompt") is None


def test_a_decision_must_name_its_prompt_exactly(services, agencies) -> None:
    records = [{"agency": HEALTH, "record_id": "HV-3303"}]
    good = dict(prompt_id=prompt_id_for("non_mobile_infant_injury", 1, [(HEALTH, "HV-3303")]), child_id="c",
                rule="non_mobile_infant_injury", rule_version=1, records=records, decision="dismissed",
                reason="Fictional: birthmark, confirmed by GP.", by="sw")  # fmt: skip
    for change in ({"prompt_id": prompt_id_for("non_mobile_infant_injury", 2, [(HEALTH, "HV-3303")])},
                   {"decision": "ignored"}, {"reason": ""}, {"records": []}, {"rule_version": 0},
                   {"records": [{"agency": HEALTH}]}):  # fmt: skip
        with pytest.raises(InvalidPayload):
            record_decision(services.ledger, **{**good, **change})
    assert record_decision(services.ledger, **good).decision == "dismissed"
