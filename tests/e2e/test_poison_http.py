"""Issue 10's first paragraph, over real HTTP on both backends: every input that once wedged the
ledger or answered 500 is refused at the door with a 4xx problem and nothing stored, and the ledger
goes on accepting, answering and checkpointing afterwards."""

from __future__ import annotations

import json

import pytest

from domain import envelope as dsse
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_reads import make_case
from tests.e2e.test_api_records import assert_problem

BAD_TEXT = [pytest.param("\ud800", id="lone-surrogate"), pytest.param("\u0000", id="nul"),
            pytest.param("a\u001bb", id="escape")]  # fmt: skip
DEEP = b"[" * 100_000 + b"]" * 100_000


def signed_ascii(live: Live, payload: dict) -> dict:
    """The payload as ASCII JSON (a lone surrogate can only travel as a ``\\ud800`` escape), signed."""
    return dsse.sign(json.dumps(payload, ensure_ascii=True).encode("ascii"), live.keys[payload["agency"]])


def still_working(live: Live, agency: str) -> None:
    """After a refusal the ledger accepts a good record, answers a read and signs a checkpoint."""
    token = live.token("agency", agency=agency)
    nhs = fresh_nhs_number()
    good = live.envelope(concern(f"OK-{nhs}", agency=agency, subject={"nhs_number": nhs}))
    assert live.client(token).post("/v1/records", json=good).status_code == 201
    assert live.client(token).get("/v1/log/checkpoint").status_code == 200
    reader = live.token("inquiry")
    assert live.client(reader).get("/v1/chronology", params={"nhs_number": nhs}).status_code == 200


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize("where", ["summary", "action_taken", "given_name", "aliases", "author", "record_id"])
def test_a_record_holding_text_no_record_may_hold_is_422_and_nothing_is_stored(live, text, where):
    agency = live.agency()
    subject = {"nhs_number": fresh_nhs_number()}
    payload = concern(f"R-{fresh_nhs_number()}", agency=agency, subject=subject)
    if where in ("given_name", "aliases"):
        subject[where] = [f"Ada{text}"] if where == "aliases" else f"Ada{text}"
    elif where == "author":
        payload["author"] = {"role": "officer", "name": f"PC{text}"}
    else:
        payload[where] = f"R-1{text}" if where == "record_id" else f"Fictional{text} concern."
    before = live.stored_events()
    answer = live.client(live.token("agency", agency=agency)).post("/v1/records", json=signed_ascii(live, payload))
    assert_problem(answer, 422, "invalid-payload")
    assert "\\ud800" not in answer.text and "\x00" not in answer.text
    assert live.stored_events() == before
    still_working(live, agency)


@pytest.mark.parametrize("text", [pytest.param("\u0000", id="nul"), pytest.param("a\u001bb", id="escape")])
def test_a_break_glass_reason_holding_control_text_is_400_and_no_access_is_logged(live, text):
    case = make_case(live)
    before = live.stored_events()
    answer = live.client(case.other).get("/v1/chronology", params={"nhs_number": case.nhs,
                                                                    "break_glass": f"Urgent{text}"})  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert live.stored_events() == before
    still_working(live, case.police)


def test_a_surrogate_sent_as_raw_bytes_in_a_query_never_reaches_the_log_as_one(live):
    """A query string cannot carry a lone surrogate (``%ED%A0%80`` is not UTF-8): it arrives as the
    replacement character, which is text a record may hold; the read is answered and logged cleanly."""
    case = make_case(live)
    answer = live.client(case.other).get(f"/v1/chronology?nhs_number={case.nhs}&break_glass=Urgent%ED%A0%80")
    assert answer.status_code in (200, 400), answer.text
    still_working(live, case.police)
    assert live.services.runner.status()[0].stall is None


@pytest.mark.parametrize("text", BAD_TEXT)
def test_decision_and_link_reasons_holding_control_text_are_422_and_nothing_is_stored(live, text):
    case = make_case(live)
    own = live.client(case.own)
    prompts = own.get("/v1/risk", params={"nhs_number": case.nhs}).json()
    child = prompts["child"]["id"]
    prompt_id = prompts["prompts"][0]["prompt_id"] if prompts["prompts"] else "0" * 36
    before = live.stored_events()
    decision = own.post("/v1/risk/decisions", content=json.dumps({
        "child": child, "prompt_id": prompt_id, "decision": "acknowledged", "reason": f"Seen{text}"}),
        headers={"content-type": "application/json"})  # fmt: skip
    # A lone surrogate is not Unicode text at all: the body is malformed (400); other control text
    # is well-formed JSON whose content is refused (422).
    refused = (400, "malformed-request") if text == "\ud800" else (422, "invalid-payload")
    assert_problem(decision, *refused)
    link = own.post("/v1/identity/links", content=json.dumps({
        "identifiers": [{"nhs_number": case.nhs}, {"local_id": "X-1", "agency": case.police}],
        "reason": f"Same child{text}"}), headers={"content-type": "application/json"})  # fmt: skip
    assert_problem(link, *refused)
    assert live.stored_events() == before
    still_working(live, case.police)


@pytest.mark.parametrize("path", ["/v1/records", "/v1/records/batch", "/v1/risk/decisions", "/v1/identity/links",
                                  "/v1/admin/agencies", "/v1/admin/tokens"])  # fmt: skip
def test_json_nested_100000_deep_is_400_everywhere(live, path):
    agency = live.agency()
    role = {"/v1/records": "agency", "/v1/records/batch": "agency", "/v1/admin/agencies": "admin",
            "/v1/admin/tokens": "admin"}.get(path, "practitioner")  # fmt: skip
    token = live.token(role, agency=agency if role == "agency" else None,
                       local_authority="309" if role == "practitioner" else None)  # fmt: skip
    before = live.stored_events()
    answer = live.client(token).post(path, content=DEEP, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert live.stored_events() == before
    still_working(live, agency)


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-13-01T00:00:00Z"])
def test_an_as_of_that_utc_cannot_hold_is_400_and_no_access_is_logged(live, as_of):
    case = make_case(live)
    before = live.stored_events()
    answer = live.client(case.inquiry).get("/v1/chronology", params={"nhs_number": case.nhs, "as_of": as_of})
    assert_problem(answer, 400, "malformed-request")
    assert live.stored_events() == before


@pytest.mark.parametrize("body", [b'{"role": "inquiry", "role": "admin", "holder": "Jo"}',
                                  b'{"role": "inquiry", "holder": "Jo", "expires": NaN}',
                                  b'{"role": "inquiry", "holder": "Jo\xff"}'], ids=["repeated-name", "nan", "not-utf8"])
def test_json_models_are_parsed_by_the_one_strict_parser(live, body):
    before = live.stored_events()
    answer = live.client(live.token("admin")).post("/v1/admin/tokens", content=body,
                                                   headers={"content-type": "application/json"})  # fmt: skip
    assert_problem(answer, 400, "malformed-request")
    assert live.stored_events() == before
