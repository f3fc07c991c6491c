"""Finding the demo child by name and date of birth (the web form and GET /v1/children/search),
typing slips told as such, the prompts by severity and possible matches that can be judged: over
real HTTP on the demo case, on both backends."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest

from api import tokens
from domain.access import Access
from projections.identity import resolve_child
from tests.e2e.test_web_lookups import ALEX, SAM, events_since, stored
from tests.web_demo import DemoLive, demo_live  # noqa: F401 - the fixture

LARK = {"given_name": "Lark", "family_name": "Samplewell", "date_of_birth": "2026-03-09"}
ED_TEMP = ("northshire-ed", "ED-TEMP-20261102-07")
ED_NAME = "Northshire Hospitals NHS Trust, Emergency Department (fictional)"


def temp_child(live: DemoLive) -> str:
    """The child the A&E scald was registered under, with a temporary number."""
    with live.services.engine.connect() as conn:
        return resolve_child(conn, agency=ED_TEMP[0], local_id=ED_TEMP[1]).id


def accesses(live: DemoLive, before: int) -> list[Access.LoggedV2]:
    found = events_since(live, before)
    assert all(isinstance(event, Access.LoggedV2) for event in found)
    return found


def candidates(html: str) -> list[str]:
    return re.findall(r'<li data-child="([^"]+)"', html.split('data-testid="candidates"')[1].split("</section>")[0])


def test_a_practitioner_finds_the_child_by_name_and_date_of_birth_and_each_candidate_is_logged(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    before = stored(demo_live)
    page = client.get("/find", params={**LARK, "given_name": "Larke"})
    assert page.status_code == 200
    assert candidates(page.text) == [temp_child(demo_live), demo_live.child_id()]  # the exact "Larke" first
    assert "given name, family name and date of birth match exactly" in page.text  # the A&E's "Larke"
    assert "family name and date of birth match exactly; given name similar (Jaro-Winkler 0.9" in page.text
    logged = accesses(demo_live, before)
    assert {a.child for a in logged} == {demo_live.child_id(), temp_child(demo_live)}
    assert {(a.holder, a.read, a.outcome) for a in logged} == {(SAM, "search", "allowed")}
    assert logged[0].query == {"search": "name_and_date_of_birth", "given_name": "Larke",
                               "family_name": "Samplewell", "date_of_birth": "2026-03-09"}  # fmt: skip


def test_another_councils_practitioner_is_shown_no_candidate_and_the_log_says_whom(demo_live):
    client = demo_live.signed_in(demo_live.other_council)
    before = stored(demo_live)
    page = client.get("/find", params=LARK)
    assert page.status_code == 200 and candidates(page.text) == []
    logged = accesses(demo_live, before)
    assert {(a.holder, a.outcome) for a in logged} == {(ALEX, "refused")}
    assert demo_live.child_id() in {a.child for a in logged}
    nobody = client.get("/find", params={**LARK, "date_of_birth": "2019-01-01"})
    assert nobody.status_code == 200 and candidates(nobody.text) == []
    (missed,) = accesses(demo_live, before + len(logged))
    assert (missed.child, missed.outcome) == (None, "not_found")


def test_an_inquiry_finds_a_child_of_any_council_by_name(demo_live):
    page = demo_live.signed_in(demo_live.inquiry).get(
        "/find", params={"given_name": "Sky", "family_name": "Exampleton", "date_of_birth": "2016-05-14"})
    assert len(candidates(page.text)) == 1
    sam = demo_live.signed_in(demo_live.practitioner).get(
        "/find", params={"given_name": "Sky", "family_name": "Exampleton", "date_of_birth": "2016-05-14"})
    assert candidates(sam.text) == []  # council 991's child: not shown, not hinted at


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({**LARK, "date_of_birth": "2026-02-30"}, "not a real calendar date"),
        ({**LARK, "date_of_birth": "09/03/2026"}, "must be a date written YYYY-MM-DD"),
        ({**LARK, "date_of_birth": "2999-01-01"}, "in the future"),
        ({"given_name": "Lark", "family_name": "Samplewell"}, "a name alone is not a search"),
        ({"date_of_birth": "2026-03-09"}, "given name, family name or both"),
        ({**LARK, "family_name": "Sample\x01well"}, "family_name"),
    ],
)
def test_a_malformed_search_is_told_what_is_wrong_and_stores_nothing(demo_live, params, words):
    client = demo_live.signed_in(demo_live.practitioner)
    before = stored(demo_live)
    page = client.get("/find", params=params)
    assert page.status_code == 400 and words in page.text and 'role="alert"' in page.text
    api = demo_live_api(demo_live).get("/v1/children/search", params=params)
    assert api.status_code == 400 and api.headers["content-type"].startswith("application/problem+json")
    assert stored(demo_live) == before


def demo_live_api(live: DemoLive) -> httpx.Client:
    """A JSON API client with a bearer token of the demo's council."""
    token, _ = tokens.issue(live.services.engine, "practitioner", local_authority=live.demo.council, holder=SAM)
    return httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("nhs_number", "9995260183", "That NHS number fails its check digit"),
        ("nhs_number", "999526018", "An NHS number is 10 digits"),
        ("upn", "A123456789012", "That UPN fails its check digit"),
        ("upn", "A12345", "A UPN is 13 characters"),
    ],
)
def test_a_mistyped_nhs_number_or_upn_is_told_it_fails_its_check_digit(demo_live, kind, value, words):
    client = demo_live.signed_in(demo_live.practitioner)
    before = stored(demo_live)
    page = client.get("/find", params={"kind": kind, "value": value})
    assert page.status_code == 400 and words in page.text
    assert "No child is known" not in page.text
    assert stored(demo_live) == before  # no record can name it: nothing to log, nothing looked up


def test_the_json_search_answers_candidates_with_reasons(demo_live):
    with demo_live_api(demo_live) as client:
        before = stored(demo_live)
        answer = client.get("/v1/children/search", params={**LARK, "family_name": "Samplewel"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["query"] == {**LARK, "family_name": "Samplewel"} and body["truncated"] is False
    ids = [c["child"]["id"] for c in body["candidates"]]
    assert demo_live.child_id() in ids and temp_child(demo_live) in ids
    assert all(c["reasons"] and 0.88 <= c["similarity"] <= 1 for c in body["candidates"])
    assert len(accesses(demo_live, before)) == len(ids)
    with demo_live.browser_client() as anonymous:
        assert anonymous.get("/v1/children/search", params=LARK).status_code == 401


def test_the_childs_prompts_come_by_severity_with_their_dates(demo_live):
    page = demo_live.signed_in(demo_live.practitioner).get(f"/children/{demo_live.child_id()}")
    rules = re.findall(r'<li class="prompt" id="prompt-[^"]+" data-rule="([^"]+)"', page.text)
    assert rules[0] == "non_mobile_infant_injury" and len(rules) == len(set(rules))
    assert rules.index("household_change_then_injury") < rules.index("repeated_was_not_brought")
    assert "13 Jul 2026 19:05 +01:00" in page.text.split('data-rule="non_mobile_infant_injury"')[1].split("</li>")[0]
    was_not_brought = page.text.split('data-rule="repeated_was_not_brought"')[1].split("</li>")[0]
    assert "2 records, from 27 Apr 2026 to 11 May 2026" in was_not_brought


def test_a_possible_match_shows_its_record_to_judge_it_by(demo_live):
    page = demo_live.signed_in(demo_live.practitioner).get(f"/children/{demo_live.child_id()}")
    section = page.text.split('data-testid="possible-matches"')[1].split("</section>")[0]
    match = section.split(f'data-child="{temp_child(demo_live)}"')[1].split("</li>")[0]
    assert ED_NAME in match and "physical injury" in match and "scald to the right hand" in match
    assert "2 Nov 2026 16:45 UTC" in match
    assert match.count("similar name") == 1 and match.count("same date of birth") == 1
    assert f'/children/{temp_child(demo_live)}">View this record' in match
    then = demo_live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S")
    as_then = demo_live.signed_in(demo_live.practitioner).get(f"/children/{demo_live.child_id()}",
                                                              params={"as_of": then})  # fmt: skip
    assert temp_child(demo_live) in as_then.text.split('data-testid="possible-matches"')[1]
    (scald,) = [r for r in demo_live.demo.receipts if r["record_id"] == "ED-2026-110207"]
    before_scald = datetime.fromisoformat(scald["recorded_at"].replace("Z", "+00:00")) - timedelta(seconds=1)
    early = demo_live.signed_in(demo_live.practitioner).get(
        f"/children/{demo_live.child_id()}", params={"as_of": before_scald.strftime("%Y-%m-%dT%H:%M:%S")})
    assert early.status_code == 200
    assert temp_child(demo_live) not in early.text.split('data-testid="possible-matches"')[1]


def test_the_matches_api_gives_each_matchs_records_with_agency_names(demo_live):
    with demo_live_api(demo_live) as client:
        body = client.get("/v1/identity/matches", params={"nhs_number": demo_live.demo.child_nhs_number}).json()
    (match,) = [m for m in body["matches"] if m["child"]["id"] == temp_child(demo_live)]
    (record,) = match["records"]
    assert (record["agency"], record["agency_name"], record["category"]) == (ED_TEMP[0], ED_NAME, "physical_injury")
    assert len(match["reasons"]) == len(set(match["reasons"])) == 3


@pytest.mark.parametrize(("name", "value"), [("nhs_number", "9995260183"), ("upn", "A123456789012")])
def test_the_json_api_tells_a_mistyped_identifier_fails_its_check_digit(demo_live, name, value):
    with demo_live_api(demo_live) as client:
        before = stored(demo_live)
        answer = client.get("/v1/chronology", params={name: value})
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("application/problem+json")
    assert "fails its check digit" in answer.json()["detail"] and "no child" not in answer.json()["detail"].lower()
    assert stored(demo_live) == before


def test_the_matches_api_answers_as_known_at(demo_live):
    (scald,) = [r for r in demo_live.demo.receipts if r["record_id"] == "ED-2026-110207"]
    before_scald = datetime.fromisoformat(scald["recorded_at"].replace("Z", "+00:00")) - timedelta(microseconds=1)
    params = {"nhs_number": demo_live.demo.child_nhs_number}
    with demo_live_api(demo_live) as client:
        now = client.get("/v1/identity/matches", params=params).json()["matches"]
        then = client.get("/v1/identity/matches", params={**params, "as_of": before_scald.isoformat()}).json()
    assert temp_child(demo_live) in [m["child"]["id"] for m in now]
    assert temp_child(demo_live) not in [m["child"]["id"] for m in then["matches"]]
