"""Practitioners and inquiries reading over real HTTP: chronology, risk, decisions, links, matches,
and the access entry every allowed read appends before its answer (a refused read stores nothing)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.access import Access
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.test_api_records import assert_problem


@dataclass
class Case:
    """A fictional child known to two agencies of council 309, and readers of every kind."""

    nhs: str
    police: str
    health: str
    receipts: dict
    own: str  # practitioner of 309
    other: str  # practitioner of 310
    inquiry: str


def make_case(live: Live, **police_fields) -> Case:
    police, health = live.agency("police"), live.agency("health")
    nhs = fresh_nhs_number()
    subject = {"nhs_number": nhs, "given_name": "Ada", "family_name": "Example", "date_of_birth": "2025-12-01"}
    records = [
        (police, concern("P-1", agency=police, subject=subject, occurred_at="2026-03-02T22:10:00+00:00",
                         category="domestic_abuse", **police_fields)),
        (health, concern("H-1", agency=health, subject=subject, occurred_at="2026-03-01",
                         category="physical_injury", summary="Fictional: bruise on the upper arm.")),
    ]  # fmt: skip
    receipts = {}
    for agency, payload in records:
        response = live.services.submit([live.envelope(payload)], agency)
        receipts[payload["record_id"]] = response[0]
    return Case(
        nhs, police, health, receipts,
        live.token("practitioner", local_authority="309"),
        live.token("practitioner", local_authority="310"),
        live.token("inquiry"),
    )  # fmt: skip


def last_event(live: Live):
    """The newest event in the store (no projection involved: what is stored is what counts)."""
    (notification,) = live.services.ledger.recorder.select_notifications(
        start=live.stored_events(), limit=1
    )
    return live.services.ledger.mapper.to_domain_event(notification)


def test_a_practitioner_of_the_childs_council_reads_the_chronology_in_order_and_the_read_is_logged(live):
    case = make_case(live)
    before = live.stored_events()
    with live.client(case.own) as client:
        response = client.get("/v1/chronology", params={"nhs_number": case.nhs})
    assert response.status_code == 200
    body = response.json()
    assert body["child"]["identifiers"] == [{"nhs_number": case.nhs}]
    assert body["as_of"].endswith("Z")
    # SPEC order: by occurred_at, a date alone at the start of its day.
    assert [e["record_id"] for e in body["entries"]] == ["H-1", "P-1"]
    for entry in body["entries"]:
        assert {"record_id", "agency", "type", "category", "occurred_at", "recorded_at", "summary", "status",
                "leaf_index"} <= set(entry)  # fmt: skip
        assert entry["status"] == "current"
        assert entry["leaf_index"] == case.receipts[entry["record_id"]]["leaf_index"]
    # The access entry was stored before the answer came back: exactly one new event, this read.
    assert live.stored_events() == before + 1
    access = last_event(live)
    assert isinstance(access, Access.Logged)
    assert (access.role, access.local_authority, access.read, access.child) == (
        "practitioner", "309", "chronology", body["child"]["id"]
    )  # fmt: skip
    assert access.query == {"nhs_number": case.nhs} and access.break_glass is False


def test_a_practitioner_of_another_council_is_refused_and_nothing_is_stored(live):
    case = make_case(live)
    before = live.stored_events()
    with live.client(case.other) as client:
        for path in ("/v1/chronology", "/v1/risk", "/v1/identity/matches"):
            assert_problem(client.get(path, params={"nhs_number": case.nhs}), 403, "forbidden")
    assert live.stored_events() == before


def test_break_glass_lets_another_council_read_and_flags_the_access_entry(live):
    case = make_case(live)
    reason = "Fictional: child brought to our A&E out of hours"
    with live.client(case.other) as client:
        response = client.get("/v1/chronology", params={"nhs_number": case.nhs, "break_glass": reason})
    assert response.status_code == 200 and len(response.json()["entries"]) == 2
    access = last_event(live)
    assert (access.local_authority, access.break_glass, access.reason) == ("310", True, reason)


def test_inquiries_read_any_child_and_their_reads_are_logged_too(live):
    case = make_case(live)
    with live.client(case.inquiry) as client:
        assert client.get("/v1/risk", params={"nhs_number": case.nhs}).status_code == 200
    access = last_event(live)
    assert (access.role, access.read, access.break_glass) == ("inquiry", "risk", False)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="no-selector"),
        pytest.param({"nhs_number": "9434765919", "upn": "A123456789012"}, id="two-selectors"),
        pytest.param({"nhs_number": "94347"}, id="short-nhs-number"),
        pytest.param({"child": "not-a-child-id"}, id="bad-child-id"),
        pytest.param({"local_id": "X-1"}, id="local-id-without-agency"),
        pytest.param({"nhs_number": "9434765919", "as_of": "yesterday"}, id="bad-as-of"),
        pytest.param({"nhs_number": "9434765919", "as_of": "2026-03-01T12:00:00"}, id="as-of-without-offset"),
        pytest.param({"nhs_number": "9434765919", "limit": "0"}, id="bad-limit"),
        pytest.param({"nhs_number": "9434765919", "category": "gossip"}, id="bad-category"),
        pytest.param({"nhs_number": "9434765919", "as_off": "2026-03-01T12:00:00Z"}, id="misspelt-parameter"),
    ],
)
def test_a_malformed_read_gets_400(live, params):
    token = live.token("inquiry")
    before = live.stored_events()
    with live.client(token) as client:
        assert_problem(client.get("/v1/chronology", params=params), 400, "malformed-request")
    assert live.stored_events() == before


def test_an_unknown_child_gets_404_and_nothing_is_stored(live):
    token = live.token("inquiry")
    before = live.stored_events()
    with live.client(token) as client:
        for path in ("/v1/chronology", "/v1/risk", "/v1/identity/matches", "/v1/access"):
            assert_problem(client.get(path, params={"nhs_number": fresh_nhs_number()}), 404, "not-found")
        unknown_id = "00000000-0000-0000-0000-000000000000"
        assert_problem(client.get("/v1/chronology", params={"child": unknown_id}), 404, "not-found")
    assert live.stored_events() == before


def test_as_of_shows_the_chronology_as_it_stood_then(live):
    case = make_case(live)
    first = case.receipts["P-1"]["recorded_at"]
    amended = concern("P-2", agency=case.police, subject={"nhs_number": case.nhs}, type="amendment",
                      amends="P-1", occurred_at="2026-03-02T22:10:00+00:00", category="domestic_abuse",
                      summary="Corrected.")  # fmt: skip
    live.services.submit([live.envelope(amended)], case.police)
    with live.client(case.inquiry) as client:
        now = client.get("/v1/chronology", params={"nhs_number": case.nhs}).json()
        then = client.get("/v1/chronology", params={"nhs_number": case.nhs, "as_of": first}).json()
        by_id = client.get("/v1/chronology", params={"child": now["child"]["id"], "source_agency": case.police}).json()
    assert {e["record_id"]: e["status"] for e in now["entries"]} == {"H-1": "current", "P-1": "superseded",
                                                                     "P-2": "current"}  # fmt: skip
    assert then["as_of"] == first
    assert {e["record_id"]: e["status"] for e in then["entries"]} == {"P-1": "current"}
    assert {e["record_id"] for e in by_id["entries"]} == {"P-1", "P-2"}


def test_a_practitioner_records_a_decision_on_a_prompt_and_risk_shows_it(live):
    case = make_case(live)
    with live.client(case.own) as client:
        risk = client.get("/v1/risk", params={"nhs_number": case.nhs}).json()
        assert risk["prompts"], "two agencies within 30 days raise a prompt"
        prompt = risk["prompts"][0]
        assert {"rule", "rule_version", "records", "raised_at", "state"} <= set(prompt)
        assert prompt["state"] == "open"
        decision = {"child": risk["child"]["id"], "prompt_id": prompt["prompt_id"], "decision": "escalated",
                    "reason": "Fictional: strategy discussion arranged."}  # fmt: skip
        response = client.post("/v1/risk/decisions", json=decision)
        assert response.status_code == 201, response.text
        assert response.json()["decision"] == "escalated"
        again = client.get("/v1/risk", params={"nhs_number": case.nhs}).json()
        assert next(p for p in again["prompts"] if p["prompt_id"] == prompt["prompt_id"])["state"] == "escalated"
        unknown = dict(decision, prompt_id="00000000-0000-0000-0000-000000000000")
        assert_problem(client.post("/v1/risk/decisions", json=unknown), 404, "not-found")
        assert_problem(client.post("/v1/risk/decisions", json=dict(decision, decision="ignored")), 400,
                       "malformed-request")  # fmt: skip
    with live.client(case.other) as client:
        assert_problem(client.post("/v1/risk/decisions", json=decision), 403, "forbidden")
    with live.client(case.inquiry) as client:
        assert_problem(client.post("/v1/risk/decisions", json=decision), 403, "forbidden")


def test_a_practitioner_links_an_agency_reference_to_a_child_of_their_council(live):
    case = make_case(live)
    police_only = concern("P-9", agency=case.police, subject={"local_id": "NP-PERSON-1", "family_name": "Exampel"},
                          category="domestic_abuse")  # fmt: skip
    live.services.submit([live.envelope(police_only)], case.police)
    link = {"identifiers": [{"nhs_number": case.nhs}, {"agency": case.police, "local_id": "NP-PERSON-1"}],
            "reason": "Fictional: same address and date of birth confirmed with the school."}  # fmt: skip
    with live.client(case.other) as client:
        assert_problem(client.post("/v1/identity/links", json=link), 403, "forbidden")
    with live.client(case.own) as client:
        response = client.post("/v1/identity/links", json=link)
        assert response.status_code == 201, response.text
        assert {"agency": case.police, "local_id": "NP-PERSON-1"} in response.json()["child"]["identifiers"]
        chronology = client.get("/v1/chronology", params={"nhs_number": case.nhs}).json()
        assert "P-9" in {e["record_id"] for e in chronology["entries"]}
        bad = dict(link, identifiers=[{"nhs_number": case.nhs}])
        assert_problem(client.post("/v1/identity/links", json=bad), 400, "malformed-request")


def test_possible_matches_are_suggested_with_reasons_never_merged(live):
    case = make_case(live)
    lookalike = {"upn": None, "local_id": "NP-PERSON-77", "given_name": "Ada", "family_name": "Exampel",
                 "date_of_birth": "2025-12-01"}  # fmt: skip
    lookalike = {k: v for k, v in lookalike.items() if v is not None}
    live.services.submit([live.envelope(concern("P-77", agency=case.police, subject=lookalike))], case.police)
    with live.client(case.own) as client:
        response = client.get("/v1/identity/matches", params={"nhs_number": case.nhs})
        chronology = client.get("/v1/chronology", params={"nhs_number": case.nhs}).json()
    assert response.status_code == 200
    matches = response.json()["matches"]
    assert any({"agency": case.police, "local_id": "NP-PERSON-77"} in m["child"]["identifiers"] for m in matches)
    assert all(m["reasons"] for m in matches)
    assert "P-77" not in {e["record_id"] for e in chronology["entries"]}
    assert last_event(live).read == "chronology"


def test_an_inquiry_lists_who_read_a_child_including_break_glass(live):
    case = make_case(live)
    with live.client(case.own) as client:
        client.get("/v1/chronology", params={"nhs_number": case.nhs})
    with live.client(case.other) as client:
        client.get("/v1/risk", params={"nhs_number": case.nhs, "break_glass": "Fictional: urgent"})
    with live.client(case.inquiry) as client:
        response = client.get("/v1/access", params={"nhs_number": case.nhs})
    assert response.status_code == 200
    reads = response.json()["reads"]
    assert [(r["local_authority"], r["read"], r["break_glass"]) for r in reads] == [
        ("309", "chronology", False),
        ("310", "risk", True),
    ]
    assert all(isinstance(r["leaf_index"], int) for r in reads)
    with live.client(case.own) as client:
        assert_problem(client.get("/v1/access", params={"nhs_number": case.nhs}), 403, "forbidden")


def test_as_of_before_a_link_shows_the_child_the_identifier_named_then(live):
    case = make_case(live)
    police_only = concern("P-5", agency=case.police, subject={"local_id": "NP-PERSON-5"}, category="domestic_abuse")
    (before_link,) = live.services.submit([live.envelope(police_only)], case.police)
    link = {"identifiers": [{"nhs_number": case.nhs}, {"agency": case.police, "local_id": "NP-PERSON-5"}],
            "reason": "Fictional: confirmed."}  # fmt: skip
    by_reference = {"local_id": "NP-PERSON-5", "agency": case.police}
    with live.client(case.own) as client:
        assert client.post("/v1/identity/links", json=link).status_code == 201
    with live.client(case.inquiry) as client:
        now = client.get("/v1/chronology", params=by_reference).json()
        then = client.get("/v1/chronology", params={**by_reference, "as_of": before_link["recorded_at"]}).json()
    assert {e["record_id"] for e in now["entries"]} == {"H-1", "P-1", "P-5"}
    assert [e["record_id"] for e in then["entries"]] == ["P-5"]
    assert then["child"]["identifiers"] == [{"agency": case.police, "local_id": "NP-PERSON-5"}]
    assert last_event(live).child == then["child"]["id"]
