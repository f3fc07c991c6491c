"""The web view over real HTTP: sessions, CSRF, access logging, break glass, as-of, decisions, links,
who has looked, the inquiry's log state and the printable chronology, on the demo case, on both
backends (the access entry of each kind of lookup: tests/e2e/test_web_lookups.py)."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from api import tokens
from api.web_session import CSRF_FIELD, SESSION_COOKIE, SIGN_IN_COOKIE
from domain.checkpoint import verify_checkpoint
from domain.merkle import leaf_hash, verify_inclusion
from projections.access import reads_of
from projections.checkpoints import entries as entry_bytes_of, inclusion_proof
from projections.integrity import root_hash
from projections.risk import decisions
from tests.web_demo import DemoLive, csrf_of, demo_live  # noqa: F401 - the fixture

ROW = re.compile(
    r'<tr id="entry-(\d+)" class="entry is-(\w+)[^"]*" data-agency="([^"]+)" data-status="\w+" data-record="([^"]+)"'
)


def rows(html: str) -> list[tuple[int, str, str, str]]:
    """The chronology table's rows: (leaf index, status, agency, record id)."""
    return [(int(leaf), status, agency, record) for leaf, status, agency, record in ROW.findall(html)]


def reads(live: DemoLive, child_id: str) -> list:
    """The logged looks at a child, once the read models have caught up with the log."""
    live.services.writes.exclusive(live.services.runner.catch_up)
    with live.services.engine.connect() as conn:
        return reads_of(conn, [child_id])


def child_page(live: DemoLive, client, **params):
    return client.get(f"/children/{live.child_id()}", params=params)


def test_pages_send_a_browser_without_a_session_to_sign_in(demo_live):
    client = demo_live.browser_client()
    for path in ("/", f"/children/{demo_live.child_id()}", "/log", "/find?value=1"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].endswith("/sign-in"), path


def test_sign_in_keeps_the_token_in_an_httponly_samesite_strict_cookie(demo_live):
    client = demo_live.browser_client()
    form = client.get("/sign-in")
    assert "Access token" in form.text and '<label for="token">' in form.text
    answer = client.post("/sign-in", data={"token": demo_live.practitioner, CSRF_FIELD: csrf_of(form.text)})
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert "Find a child" in client.get("/").text


def test_the_session_cookie_is_secure_over_https(demo_live):
    client = demo_live.browser_client()
    headers = {"X-Forwarded-Proto": "https"}  # uvicorn trusts it from 127.0.0.1
    form = client.get("/sign-in", headers=headers)
    assert "Secure" in form.headers["set-cookie"]
    # httpx keeps Secure cookies for https only, so hand the sign-in cookie back as a browser would.
    value = re.search(rf"{SIGN_IN_COOKIE}=([^;]+)", form.headers["set-cookie"]).group(1)
    answer = client.post("/sign-in", headers=headers | {"Cookie": f"{SIGN_IN_COOKIE}={value}"},
                         data={"token": demo_live.practitioner, CSRF_FIELD: csrf_of(form.text)})  # fmt: skip
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" in cookie


def test_sign_in_refuses_a_form_without_its_csrf_cookie(demo_live):
    client = demo_live.browser_client()
    answer = client.post("/sign-in", data={"token": demo_live.practitioner, CSRF_FIELD: "forged"})
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("which", ["unknown", "admin", "agency"])
def test_sign_in_refuses_unknown_tokens_and_roles_that_read_no_children(demo_live, which):
    secret = {
        "unknown": "sgl_not-a-real-token",
        "admin": tokens.issue(demo_live.services.engine, "admin", holder="Admin")[0],
        "agency": tokens.issue(demo_live.services.engine, "agency", agency="northshire-police")[0],
    }[which]
    client = demo_live.browser_client()
    form = client.get("/sign-in")
    answer = client.post("/sign-in", data={"token": secret, CSRF_FIELD: csrf_of(form.text)})
    assert answer.status_code == 401 and 'role="alert"' in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert client.get("/").status_code == 303


def test_sign_out_needs_the_csrf_token_and_ends_the_session(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    home = client.get("/")
    assert client.post("/sign-out", data={CSRF_FIELD: "wrong"}).status_code == 403
    assert client.post("/sign-out", data={CSRF_FIELD: csrf_of(home.text)}).status_code == 303
    assert client.get("/").status_code == 303


def test_a_child_is_found_by_nhs_number_upn_or_an_agency_reference(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    child = f"/children/{demo_live.child_id()}"
    by_nhs = client.get("/find", params={"kind": "nhs_number", "value": demo_live.demo.child_nhs_number})
    by_police = client.get("/find", params={"kind": "local_id", "value": "NP-P-448170", "agency": "northshire-police"})
    assert by_nhs.headers["location"].endswith(child) and by_police.headers["location"].endswith(child)
    by_upn = client.get("/find", params={"kind": "upn", "value": "V201200119044"})  # Sky, of council 991
    assert by_upn.status_code == 404 and "No child is known to your council" in by_upn.text
    as_inquiry = demo_live.signed_in(demo_live.inquiry).get("/find", params={"kind": "upn", "value": "V201200119044"})
    assert as_inquiry.status_code == 303 and not as_inquiry.headers["location"].endswith(child)
    unknown = client.get("/find", params={"kind": "nhs_number", "value": "9434765919"})
    assert unknown.status_code == 404 and "No child is known to your council" in unknown.text
    malformed = client.get("/find", params={"kind": "local_id", "value": "NP-P-448170"})
    assert malformed.status_code == 400 and "needs the agency" in malformed.text


def test_every_look_at_a_child_is_logged_before_the_page_is_sent(demo_live):
    child_id = demo_live.child_id()
    before = len(reads(demo_live, child_id))
    page = child_page(demo_live, demo_live.signed_in(demo_live.practitioner))
    assert page.status_code == 200
    logged = reads(demo_live, child_id)[before:]
    assert [r.read for r in logged] == ["child_page"], "one page view is one access entry"
    assert {(r.holder, r.role, r.local_authority, r.break_glass, r.outcome) for r in logged} == {
        ("Sam Example", "practitioner", "990", False, "allowed")}
    assert all(r.leaf_index is not None for r in logged)


def test_another_council_must_break_glass_and_the_look_is_flagged_with_the_reason(demo_live):
    child_id = demo_live.child_id()
    client = demo_live.signed_in(demo_live.other_council)
    before = len(reads(demo_live, child_id))
    refused = child_page(demo_live, client)
    assert refused.status_code == 404 and 'name="break_glass"' in refused.text  # as for an unknown child
    assert [(r.holder, r.outcome) for r in reads(demo_live, child_id)[before:]] == [("Alex Other", "refused")]
    before += 1
    reason = "Out-of-hours duty: the child is in our A&E tonight (fictional)."
    allowed = child_page(demo_live, client, break_glass=reason)
    assert allowed.status_code == 200 and "outside your council" in allowed.text
    logged = reads(demo_live, child_id)[before:]
    assert [(r.holder, r.read, r.outcome, r.break_glass, r.reason) for r in logged] == [
        ("Alex Other", "child_page", "allowed", True, reason)]
    assert "Record a decision" not in allowed.text  # acting on another council's child is not offered


def test_as_known_at_shows_what_was_recorded_then_with_the_statuses_then(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    now = {record: status for _, status, _, record in rows(child_page(demo_live, client).text)}
    then_page = child_page(demo_live, client, as_of=demo_live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S"))
    then = {record: (status, agency) for _, status, agency, record in rows(then_page.text)}
    assert now["ED-2026-071344"] == "superseded" and now["LAN-0123"] == "retracted"
    assert then["ED-2026-071344"][0] == "current" and then["LAN-0123"][0] == "current"
    assert "NP-INC-26-11873" in now and not any(agency == "northshire-police" for _, agency in then.values())
    assert "CSC-26-3341-L1" not in then and "As known at" in then_page.text


def test_filters_narrow_the_timeline_and_the_table(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    police = child_page(demo_live, client, agency="northshire-police")
    assert {agency for _, _, agency, _ in rows(police.text)} == {"northshire-police"}
    assert re.findall(r'<g class="lane" data-agency="([^"]+)"', police.text) == ["northshire-police"]
    injuries = child_page(demo_live, client, category="physical_injury", **{"from": "2026-07-01", "to": "2026-09-30"})
    assert {record for *_, record in rows(injuries.text)} == {"ED-2026-071344", "ED-2026-071344-A1", "LAN-0117"}


def test_highlighting_a_prompt_marks_the_records_behind_it_in_the_timeline_and_the_table(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    page = child_page(demo_live, client)
    prompt_id = re.search(r'id="prompt-([0-9a-f-]+)" data-rule="non_mobile_infant_injury"', page.text).group(1)
    highlighted = child_page(demo_live, client, highlight=prompt_id).text
    rows_marked = re.findall(r'class="entry is-\w+ highlighted" data-agency="[^"]+" data-status="\w+" data-record="([^"]+)"',
                             highlighted)  # fmt: skip
    assert rows_marked == ["ED-2026-071344-A1"]
    assert highlighted.count('class="mark status-current highlighted"') == 1


def test_a_bad_query_is_a_page_saying_so_never_a_crash(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    answer = child_page(demo_live, client, as_of="yesterday")
    assert answer.status_code == 400 and "as known at" in answer.text
    assert client.get("/children/no-such-child").status_code == 404
    inquiry = demo_live.signed_in(demo_live.inquiry).get("/children/no-such-child")
    assert inquiry.status_code == 404 and 'name="break_glass"' not in inquiry.text


def test_a_decision_needs_the_csrf_token_and_a_reason_and_is_recorded_in_the_log(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    page = child_page(demo_live, client)
    prompt_id = re.search(r'id="prompt-([0-9a-f-]+)" data-rule="non_mobile_infant_injury"', page.text).group(1)
    url = f"/children/{demo_live.child_id()}/decisions"
    form = {"prompt_id": prompt_id, "decision": "escalated", "reason": "Strategy discussion booked (fictional)."}
    events = demo_live.services.ledger.recorder.max_notification_id()
    assert client.post(url, data=form | {CSRF_FIELD: "forged"}).status_code == 403
    assert client.post(url, data=form | {CSRF_FIELD: csrf_of(page.text), "reason": " "}).status_code == 400
    assert demo_live.services.ledger.recorder.max_notification_id() == events
    done = client.post(url, data=form | {CSRF_FIELD: csrf_of(page.text)})
    assert done.status_code == 303 and "done=decision" in done.headers["location"]
    after = client.get(done.headers["location"])
    assert "recorded in the ledger" in after.text and "Strategy discussion booked (fictional)." in after.text
    assert re.search(rf'id="prompt-{prompt_id}" data-rule="non_mobile_infant_injury" data-state="escalated"', after.text)
    with demo_live.services.engine.connect() as conn:
        stored = conn.execute(select(decisions.c.decided_by).where(decisions.c.prompt_id == prompt_id)).scalars().all()
        token_id = tokens.authenticate(conn, demo_live.practitioner).token_id
    assert stored and set(stored) == {"Sam Example (practitioner, council 990)"}
    assert "by Sam Example (practitioner, council 990)" in after.text and token_id not in after.text


def test_an_inquiry_cannot_record_decisions(demo_live):
    client = demo_live.signed_in(demo_live.inquiry)
    page = child_page(demo_live, client)
    assert "Record a decision" not in page.text
    prompt_id = re.search(r'id="prompt-([0-9a-f-]+)"', page.text).group(1)
    answer = client.post(f"/children/{demo_live.child_id()}/decisions",
                         data={"prompt_id": prompt_id, "decision": "dismissed", "reason": "x",
                               CSRF_FIELD: csrf_of(page.text)})  # fmt: skip
    assert answer.status_code == 403


def test_an_inquiry_sees_the_log_verified_and_who_looked_at_the_child(demo_live):
    demo_live.signed_in(demo_live.practitioner).get(f"/children/{demo_live.child_id()}")
    client = demo_live.signed_in(demo_live.inquiry)
    log = client.get("/log")
    assert log.status_code == 200 and 'data-testid="log-verified"><strong class="status status-current">verified' in log.text
    history = child_page(demo_live, client).text.split('data-testid="access-history"')[1]
    assert "Sam Example" in history and "practitioner, council 990" in history and "child page" in history
    assert "token " not in history, "the view names people, never token ids"
    assert demo_live.signed_in(demo_live.practitioner).get("/log").status_code == 403


def test_the_print_view_names_a_checkpoint_that_proves_every_entry(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    page = client.get(f"/children/{demo_live.child_id()}/print")
    assert page.status_code == 200 and 'media="print"' in page.text
    note = re.search(r"<pre>(.*?)</pre>", page.text, re.S).group(1).replace("&lt;", "<").replace("&gt;", ">")
    checkpoint = verify_checkpoint(note, demo_live.services.signer.verifier)
    leaves = [leaf for leaf, *_ in rows(page.text)]
    assert len(leaves) >= 19 and max(leaves) < checkpoint.size
    with demo_live.services.engine.connect() as conn:
        assert root_hash(conn, checkpoint.size) == checkpoint.root
        for leaf in (leaves[0], leaves[-1]):
            proof = inclusion_proof(conn, leaf, checkpoint.size)
            entry = entry_bytes_of(conn, leaf, leaf + 1)[0]
            verify_inclusion(leaf_hash(entry), leaf, checkpoint.size, proof.proof, checkpoint.root)
    assert base64.b64encode(checkpoint.root).decode() in page.text


def test_pages_carry_their_own_content_security_policy_and_need_no_script(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    page = child_page(demo_live, client)
    policy = page.headers["content-security-policy"]
    assert "style-src 'self'" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert "<script" not in page.text and " style=" not in page.text
    assert client.get("/static/ledger.css").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404


def test_confirming_a_possible_match_joins_its_records_to_the_chronology(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    page = child_page(demo_live, client)
    assert "ED-2026-110207" not in {record for *_, record in rows(page.text)}
    ed = re.escape("Northshire Hospitals NHS Trust, Emergency Department (fictional)")  # its name, not its id
    match = re.search(rf'<li data-child="([^"]+)">\s*<strong>{ed} reference ED-TEMP-20261102-07', page.text)
    assert match, "the Emergency Department's temporary registration is suggested as a possible match"
    url = f"/children/{demo_live.child_id()}/links"
    form = {"other_child": match.group(1), CSRF_FIELD: csrf_of(page.text)}
    assert client.post(url, data=form | {"reason": ""}).status_code == 400
    done = client.post(url, data=form | {"reason": "Same date of birth, address and mother (fictional)."})
    assert done.status_code == 303
    after = client.get(done.headers["location"])
    assert "ED-2026-110207" in {record for *_, record in rows(after.text)}
    assert 'data-rule="repeated_injury_attendances"' in after.text
