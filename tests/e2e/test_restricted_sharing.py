"""Restricted records and sharing decisions over real HTTP, on both backends (docs/records.md).

A restricted record's content never reaches a practitioner: not in the chronology JSON, the risk
prompts, the possible matches, the access history, the web page or its print-out; they see "A
restricted record from <agency> on <date>". Opening it is a flagged break-glass read that the
recording agency is told of; an inquiry sees it in full. Sharing decisions, an agency's signed
record or a practitioner's act, show in the chronology and the access history; a hostile or careless
one is refused whole, with nothing stored.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from api.web_session import CSRF_FIELD
from domain.access import LOGGED
from projections.identity import resolve_child
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.web_demo import csrf_of

_serial = itertools.count(1)


class Case:
    """Two agencies' records about one fresh child of council 309, one of them restricted."""

    def __init__(self, live: Live):
        n = next(_serial)
        self.live = live
        self.police, self.health = live.agency("police"), live.agency("health")
        self.nhs = fresh_nhs_number()
        self.secrets = (f"Fictional clinic note {n}: disclosure during a sexual health visit",
                        f"Fictional action {n}: referred to the clinic safeguarding lead & <b>nurse</b>",
                        f"Fictional role {n}: sexual health nurse")  # fmt: skip
        subject = {"nhs_number": self.nhs, "given_name": "Robin", "family_name": f"Example{n}"}
        self.open_record = {"agency": self.police, "record_id": f"P-{n}", "type": "concern", "subject": subject,
                            "occurred_at": "2026-03-01T21:10:00+00:00", "category": "neglect",
                            "summary": "Fictional: child alone at the bus stop at night.", "local_authority": "309"}
        self.restricted = {"agency": self.health, "record_id": f"H-{n}", "type": "concern", "subject": subject,
                           "occurred_at": "2026-03-03T10:00:00+00:00", "category": "sexual_harm",
                           "summary": self.secrets[0], "action_taken": self.secrets[1],
                           "author": {"role": self.secrets[2], "name": f"Nurse Hidden{n}"},
                           "local_authority": "309", "restricted": True}  # fmt: skip
        self.secrets += (f"Nurse Hidden{n}",)
        self.submit(self.open_record, self.restricted)
        self.practitioner = live.token("practitioner", local_authority="309", holder=f"Sam Example {n} (fictional)")
        self.inquiry = live.token("inquiry", holder=f"Review Panel {n} (fictional)")
        with live.services.engine.connect() as conn:
            self.child = resolve_child(conn, nhs_number=self.nhs).id

    def submit(self, *payloads: dict) -> None:
        for payload in payloads:
            token = self.live.token("agency", agency=payload["agency"])
            with self.live.client(token) as client:
                answer = client.post("/v1/records", json=self.live.envelope(payload))
            assert answer.status_code == 201, answer.text

    def leaks(self, text: str) -> list[str]:
        """The secrets found in ``text``, as written or as HTML escapes them."""
        return [secret for secret in self.secrets if secret in text or html.escape(secret) in text]

    def opened(self, token: str, break_glass: str | None = None):
        params = {} if break_glass is None else {"break_glass": break_glass}
        with self.live.client(token) as client:
            return client.get(f"/v1/children/{self.child}/restricted/{self.health}/{self.restricted['record_id']}",
                              params=params)  # fmt: skip

    @contextmanager
    def web(self, token: str) -> Iterator[httpx.Client]:
        """A browser-like client signed in with ``token`` through the sign-in form."""
        with self.live.client() as client:
            form = client.get("/sign-in")
            assert client.post("/sign-in", data={"token": token, CSRF_FIELD: csrf_of(form.text)}).status_code == 303
            yield client


def stored(live: Live) -> int:
    return live.stored_events()


def access_entries_since(live: Live, before: int) -> list:
    events = [e for e in live.services.ledger.recorder.select_notifications(before + 1, 1000)]
    mapped = [live.services.ledger.mapper.to_domain_event(e) for e in events]
    return [e for e in mapped if isinstance(e, LOGGED)]


def test_a_practitioner_sees_a_restricted_record_only_as_restricted_everywhere(live: Live):
    case = Case(live)
    name = live.services.ledger.agency(case.health).name
    with live.client(case.practitioner) as client:
        answers = {path: client.get(path, params={"nhs_number": case.nhs})
                   for path in ("/v1/chronology", "/v1/risk", "/v1/identity/matches", "/v1/access")}  # fmt: skip
    for path, answer in answers.items():
        assert answer.status_code == 200, (path, answer.text)
        assert case.leaks(answer.text) == [], path
    entries = answers["/v1/chronology"].json()["entries"]
    shown = next(e for e in entries if e["agency"] == case.health)
    assert shown["restricted"] is True and shown["summary"] == f"A restricted record from {name} on 2026-03-03"
    assert shown["category"] is None and shown["action_taken"] is None and shown["author_role"] is None
    assert "sexual_harm" not in answers["/v1/chronology"].text
    assert next(e for e in entries if e["agency"] == case.police)["summary"] == case.open_record["summary"]
    (prompt,) = [p for p in answers["/v1/risk"].json()["prompts"] if p["rule"] == "multi_agency_concerns"]
    behind = {r["agency"]: r["restricted"] for r in prompt["records"]}  # it still counts for safety
    assert behind == {case.police: False, case.health: True}
    with case.web(case.practitioner) as browser:
        page, paper = browser.get(f"/children/{case.child}"), browser.get(f"/children/{case.child}/print")
    for html in (page, paper):
        assert html.status_code == 200 and case.leaks(html.text) == []
        assert f"A restricted record from {name} on 2026-03-03" in html.text


def test_an_inquiry_sees_a_restricted_record_in_full_and_opens_it_without_breaking_glass(live: Live):
    case = Case(live)
    with live.client(case.inquiry) as client:
        chronology = client.get("/v1/chronology", params={"nhs_number": case.nhs})
    entry = next(e for e in chronology.json()["entries"] if e["agency"] == case.health)
    assert entry["summary"] == case.secrets[0] and entry["category"] == "sexual_harm" and entry["restricted"]
    with case.web(case.inquiry) as browser:
        assert case.secrets[0] in browser.get(f"/children/{case.child}").text
    before = stored(live)
    opened = case.opened(case.inquiry)
    assert opened.status_code == 200 and opened.json()["entry"]["action_taken"] == case.secrets[1]
    (entry,) = access_entries_since(live, before)
    assert entry.read == "restricted_record" and not entry.break_glass
    assert _agency_told(live, case) == []


def _agency_told(live: Live, case: Case) -> list[dict]:
    with live.client(live.token("agency", agency=case.health)) as client:
        answer = client.get("/v1/agency/notifications")
    assert answer.status_code == 200, answer.text
    return [n for n in answer.json()["notifications"] if n["child"] == case.child]


def test_breaking_glass_reveals_the_record_flags_the_read_and_tells_the_recording_agency(live: Live):
    case = Case(live)
    before = stored(live)
    refused = case.opened(case.practitioner)  # no reason: not allowed, nothing stored
    assert refused.status_code == 403 and stored(live) == before
    assert case.opened(case.practitioner, "bell\x07").status_code == 400 and stored(live) == before
    reason = "Fictional: strategy meeting today needs the clinic's note."
    opened = case.opened(case.practitioner, reason)
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["break_glass"] is True and body["entry"]["summary"] == case.secrets[0]
    (entry,) = access_entries_since(live, before)
    assert (entry.read, entry.break_glass, entry.reason, entry.child) == ("restricted_record", True, reason, case.child)
    assert entry.query == {"child": case.child, "agency": case.health, "record_id": case.restricted["record_id"]}
    (told,) = _agency_told(live, case)
    assert (told["record_id"], told["reason"], told["council"]) == (case.restricted["record_id"], reason, "309")
    assert told["who"].startswith("Sam Example") and told["leaf_index"] >= 0
    with live.client(live.token("agency", agency=case.police)) as client:  # another agency is told nothing
        assert all(n["child"] != case.child for n in client.get("/v1/agency/notifications").json()["notifications"])
    with live.client(case.practitioner) as client:  # nor is the practitioner's council's list an agency's
        assert client.get("/v1/agency/notifications").status_code == 403


def test_an_open_record_or_another_council_s_child_is_not_opened(live: Live):
    case = Case(live)
    with live.client(case.practitioner) as client:
        before = stored(live)
        url = f"/v1/children/{case.child}/restricted/{case.police}/{case.open_record['record_id']}"
        assert client.get(url, params={"break_glass": "Fictional: curious."}).status_code == 404
        (entry,) = access_entries_since(live, before)
        assert entry.outcome == "not_found" and not entry.break_glass
    stranger = live.token("practitioner", local_authority="311", holder="Alex Other (fictional)")
    before = stored(live)
    assert case.opened(stranger).status_code == 403 and stored(live) == before
    with live.client(stranger) as client:  # without the child's council, as any read: not known
        assert client.get("/v1/chronology", params={"nhs_number": case.nhs}).status_code == 404


def test_an_agency_cannot_restrict_or_unrestrict_another_agency_s_record(live: Live):
    case = Case(live)
    forged = dict(case.open_record, restricted=True, record_id=case.open_record["record_id"] + "-x")
    with live.client(live.token("agency", agency=case.health)) as client:  # health signs police's record
        before = stored(live)
        answer = client.post("/v1/records", json=live.envelope(forged, live.keys[case.health]))
        assert answer.status_code in (401, 403, 422) and stored(live) == before
        amended = dict(case.open_record, agency=case.health, record_id="H-amend", type="amendment",
                       amends=case.open_record["record_id"], restricted=False)  # an amendment of its own namespace
        client.post("/v1/records", json=live.envelope(amended))
    with live.client(case.practitioner) as client:
        entries = client.get("/v1/chronology", params={"nhs_number": case.nhs}).json()["entries"]
    police = next(e for e in entries if e["record_id"] == case.open_record["record_id"])
    assert police["status"] == "current" and not police["restricted"]
    assert next(e for e in entries if e["record_id"] == case.restricted["record_id"])["restricted"]
    assert all(case.secrets[0] not in json.dumps(e) for e in entries)


def test_sharing_decisions_of_agencies_and_practitioners_round_trip_to_chronology_access_history_and_page(live):
    case = Case(live)
    agency_decision = {"agency": case.police, "record_id": f"{case.open_record['record_id']}-share",
                       "type": "sharing_decision", "subject": {"nhs_number": case.nhs}, "occurred_at": "2026-03-02",
                       "decision": "not_shared", "reason": "Fictional: sharing would alert the alleged harmer."}
    case.submit(agency_decision)
    with live.client(case.practitioner) as client:
        made = client.post("/v1/sharing/decisions", json={
            "child": case.child, "decision": "shared", "recipient": "Northshire school DSL (fictional)",
            "reason": "Fictional: to plan support at school."})  # fmt: skip
        assert made.status_code == 201, made.text
        chronology = client.get("/v1/chronology", params={"nhs_number": case.nhs}).json()
        history = client.get("/v1/access", params={"nhs_number": case.nhs})
    row = next(e for e in chronology["entries"] if e["type"] == "sharing_decision")
    assert (row["decision"], row["recipient"], row["reason"]) == ("not_shared", None, agency_decision["reason"])
    (note,) = chronology["sharing_decisions"]
    assert note["decision_id"] == made.json()["decision_id"]
    assert (note["recipient"], note["decided_by"]) == ("Northshire school DSL (fictional)",
                                                       note["decided_by"])  # fmt: skip
    assert note["decided_by"].startswith("Sam Example")
    assert history.status_code == 200 and history.json()["sharing_decisions"] == [note]
    with case.web(case.practitioner) as browser:
        page = browser.get(f"/children/{case.child}").text
    assert "Northshire school DSL (fictional)" in page and agency_decision["reason"] in page


@pytest.mark.parametrize("body, status", [
    ({"decision": "shared", "recipient": "Someone", "reason": "x" * 2001}, 400),  # the schema's maxLength
    ({"decision": "shared", "recipient": "Some\x1bone", "reason": "Fictional: why."}, 422),
    ({"decision": "shared", "recipient": "x" * 201, "reason": "Fictional: why."}, 400),
    ({"decision": "not_shared", "reason": "Fictional: bell \x07"}, 422),
    ({"decision": "not_shared", "recipient": "Someone", "reason": "Fictional: why."}, 422),
    ({"decision": "shared", "reason": "Fictional: to whom?"}, 422),
    ({"decision": "not_shared", "reason": "   "}, 422),
    ({"decision": "maybe", "reason": "Fictional: why."}, 400),  # not the request's shape
    ({"decision": "not_shared", "reason": "Fictional: why.", "extra": 1}, 400),
])  # fmt: skip
def test_a_hostile_or_careless_sharing_decision_is_refused_whole_and_nothing_is_stored(live: Live, body, status):
    case = Case(live)
    before = stored(live)
    with live.client(case.practitioner) as client:
        answer = client.post("/v1/sharing/decisions", json={"child": case.child, **body})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert stored(live) == before


def test_only_a_practitioner_of_the_child_s_council_records_a_sharing_decision(live: Live):
    case = Case(live)
    body = {"child": case.child, "decision": "not_shared", "reason": "Fictional: why."}
    stranger = live.token("practitioner", local_authority="311", holder="Alex Other (fictional)")
    before = stored(live)
    for token, status in ((stranger, 403), (case.inquiry, 403), (live.token("agency", agency=case.police), 403)):
        with live.client(token) as client:
            assert client.post("/v1/sharing/decisions", json=body).status_code == status
    assert stored(live) == before


def test_in_the_web_view_a_practitioner_breaks_glass_to_open_it_and_records_a_sharing_decision(live: Live):
    case = Case(live)
    url = f"/children/{case.child}/restricted/{case.health}/{case.restricted['record_id']}"
    with case.web(case.practitioner) as browser:
        page = browser.get(f"/children/{case.child}")
        assert url in page.text and case.leaks(page.text) == []  # the form to open it, nothing of it
        before = stored(live)
        assert browser.get(url).status_code == 403 and stored(live) == before
        opened = browser.get(url, params={"break_glass": "Fictional: strategy meeting."})
        assert opened.status_code == 200 and case.leaks(opened.text) == list(case.secrets[:3])
        (entry,) = access_entries_since(live, before)
        assert entry.break_glass and entry.read == "restricted_record"
        csrf = csrf_of(browser.get(f"/children/{case.child}").text)
        before = stored(live)
        refused = browser.post(f"/children/{case.child}/sharing", data={
            "decision": "not_shared", "reason": "Fictional: bell \x07", CSRF_FIELD: csrf})  # fmt: skip
        assert refused.status_code == 400 and "bell" not in refused.text and stored(live) == before
        made = browser.post(f"/children/{case.child}/sharing", data={
            "decision": "shared", "recipient": "Northshire GP (fictional)", "reason": "Fictional: for the review.",
            CSRF_FIELD: csrf})  # fmt: skip
        assert made.status_code == 303
        page = browser.get(f"/children/{case.child}").text
    assert "Shared with Northshire GP (fictional)" in page and "Fictional: for the review." in page
    assert len(_agency_told(live, case)) == 1
