"""Practitioners and inquiries reading over real HTTP: chronology, risk, decisions, links, matches,
and the access entry every lookup appends before its answer, allowed, refused or not found, naming
the token's holder (SPEC 6.3); another council's child is answered exactly as an unknown one (6.2);
only a malformed question stores nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from api.tokens import authenticate
from domain.access import Access
from projections.identity import resolve_child
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_records import assert_problem


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

    #: The holders the tokens were issued to, by token.
    HOLDERS = {"own": "Sam Example (fictional), council 309", "other": "Alex Other (fictional), council 310",
               "inquiry": "Review Panel (fictional)"}  # fmt: skip

    def holder(self, token: str) -> str:
        return self.HOLDERS[next(name for name in self.HOLDERS if getattr(self, name) == token)]


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
        live.token("practitioner", local_authority="309", holder=Case.HOLDERS["own"]),
        live.token("practitioner", local_authority="310", holder=Case.HOLDERS["other"]),
        live.token("inquiry", holder=Case.HOLDERS["inquiry"]),
    )  # fmt: skip


def last_event(live: Live):
    """The newest event in the store (no projection involved: what is stored is what counts)."""
    (notification,) = live.services.ledger.recorder.select_notifications(
        start=live.stored_events(), limit=1
    )
    return live.services.ledger.mapper.to_domain_event(notification)


def events_since(live: Live, before: int) -> list:
    """Every event stored after the store held ``before`` (notification ids may have gaps)."""
    found = live.services.ledger.recorder.select_notifications(start=before + 1, limit=1000)
    return [live.services.ledger.mapper.to_domain_event(notification) for notification in found]


def who(access) -> tuple:
    """What an access entry says of who looked and with what answer."""
    return access.holder, access.role, access.agency, access.local_authority, access.outcome


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
    assert isinstance(access, Access.LoggedV2)
    assert who(access) == (case.holder(case.own), "practitioner", None, "309", "allowed")
    assert (access.token_id, access.read, access.child) == (token_id(live, case.own), "chronology", body["child"]["id"])
    assert access.query == {"nhs_number": case.nhs} and access.break_glass is False


def token_id(live: Live, secret: str) -> str:
    with live.services.engine.connect() as conn:
        return authenticate(conn, secret).token_id


READS = [("/v1/chronology", "chronology"), ("/v1/risk", "risk"), ("/v1/identity/matches", "possible_matches"),
         ("/v1/access", "access")]  # fmt: skip


@pytest.mark.parametrize("path, read", READS)
def test_another_councils_child_is_answered_exactly_as_an_unknown_child_and_both_are_logged(live, path, read):
    case = make_case(live)
    unknown = fresh_nhs_number()
    with live.services.engine.connect() as conn:
        child_id = resolve_child(conn, nhs_number=case.nhs).id
    before = live.stored_events()
    with live.client(case.other) as client:
        refused = client.get(path, params={"nhs_number": case.nhs})
        middle = live.stored_events()
        not_known = client.get(path, params={"nhs_number": unknown})
    assert_problem(refused, 404, "not-found")
    assert (refused.status_code, refused.content) == (not_known.status_code, not_known.content), "no oracle"
    assert refused.headers["content-type"] == not_known.headers["content-type"]
    stored = events_since(live, before)
    assert [type(e) for e in stored] == [Access.LoggedV2, Access.LoggedV2], "one entry for each lookup"
    first, second = stored
    assert events_since(live, middle) == [second]
    # The log, never the answer, names the child the refused lookup asked for.
    assert (first.child, first.outcome, first.query) == (child_id, "refused", {"nhs_number": case.nhs})
    assert (second.child, second.outcome, second.query) == (None, "not_found", {"nhs_number": unknown})
    for access in (first, second):
        assert who(access)[:4] == (case.holder(case.other), "practitioner", None, "310")
        assert (access.read, access.break_glass, access.reason) == (read, False, None)


def test_break_glass_lets_another_council_read_and_flags_the_access_entry(live):
    case = make_case(live)
    reason = "Fictional: child brought to our A&E out of hours"
    with live.client(case.other) as client:
        response = client.get("/v1/chronology", params={"nhs_number": case.nhs, "break_glass": reason})
    assert response.status_code == 200 and len(response.json()["entries"]) == 2
    access = last_event(live)
    assert (access.local_authority, access.break_glass, access.reason) == ("310", True, reason)
    assert who(access) == (case.holder(case.other), "practitioner", None, "310", "allowed")


def test_inquiries_read_any_child_and_their_reads_are_logged_too(live):
    case = make_case(live)
    with live.client(case.inquiry) as client:
        assert client.get("/v1/risk", params={"nhs_number": case.nhs}).status_code == 200
    access = last_event(live)
    assert (access.role, access.read, access.break_glass) == ("inquiry", "risk", False)
    assert who(access) == (case.holder(case.inquiry), "inquiry", None, None, "allowed")


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


def test_an_unknown_child_gets_404_and_the_lookup_is_logged_as_not_found(live):
    token = live.token("inquiry", holder="Review Panel (fictional)")
    for path, read in READS:
        asked = {"nhs_number": fresh_nhs_number()}
        before = live.stored_events()
        with live.client(token) as client:
            assert_problem(client.get(path, params=asked), 404, "not-found")
        (access,) = events_since(live, before)
        assert (access.holder, access.role, access.read, access.query) == ("Review Panel (fictional)", "inquiry",
                                                                           read, asked)  # fmt: skip
        assert (access.child, access.outcome, access.break_glass) == (None, "not_found", False)
    unknown_id = "00000000-0000-0000-0000-000000000000"
    as_of = "2026-03-01T12:00:00Z"
    before = live.stored_events()
    with live.client(token) as client:
        assert_problem(client.get("/v1/chronology", params={"child": unknown_id, "as_of": as_of}), 404, "not-found")
    (access,) = events_since(live, before)
    assert (access.query, access.as_of, access.outcome) == ({"child": unknown_id}, "2026-03-01T12:00:00.000000Z",
                                                            "not_found")  # fmt: skip


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
    assert [(r["holder"], r["local_authority"], r["read"], r["break_glass"], r["outcome"]) for r in reads] == [
        (case.holder(case.own), "309", "chronology", False, "allowed"),
        (case.holder(case.other), "310", "risk", True, "allowed"),
    ]
    assert all(isinstance(r["leaf_index"], int) for r in reads)
    access = last_event(live)
    assert (access.read, access.holder, access.outcome) == ("access", case.holder(case.inquiry), "allowed")


def test_the_childs_council_reads_who_looked_including_refused_attempts(live):
    case = make_case(live)
    with live.client(case.other) as client:
        assert client.get("/v1/risk", params={"nhs_number": case.nhs}).status_code == 404
    before = live.stored_events()
    with live.client(case.own) as client:
        response = client.get("/v1/access", params={"nhs_number": case.nhs})
    assert response.status_code == 200, response.text
    reads = response.json()["reads"]
    assert [(r["holder"], r["role"], r["local_authority"], r["read"], r["outcome"]) for r in reads] == [
        (case.holder(case.other), "practitioner", "310", "risk", "refused"),
    ]
    (access,) = events_since(live, before)
    assert who(access) == (case.holder(case.own), "practitioner", None, "309", "allowed")
    assert (access.read, access.query, access.child) == ("access", {"nhs_number": case.nhs}, reads[0]["child"])
    with live.client(case.other) as client:  # break glass lets another council see it too, flagged
        glass = client.get("/v1/access", params={"nhs_number": case.nhs, "break_glass": "Fictional: urgent"})
    assert glass.status_code == 200 and last_event(live).break_glass is True


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
