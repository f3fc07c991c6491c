"""Every lookup through the web view is on the record, named, and no page is an oracle (SPEC 6.2,
6.3): a search, a child's page, its print-out and an "as known at" view each append exactly one
access entry, whatever the answer, naming the holder, role, council, what was asked and the
outcome; another council's child gives a practitioner the very page an unknown identifier gives.
Over real HTTP on the demo case, on both backends."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from domain.access import Access
from projections.access import access_reads
from projections.identity import resolve_child
from tests.web_demo import DemoLive, demo_live  # noqa: F401 - the fixture

SAM, ALEX, PANEL = "Sam Example", "Alex Other", "Review Panel"  # the holders tests/web_demo.py issues to


def stored(live: DemoLive) -> int:
    return live.services.ledger.recorder.max_notification_id() or 0


def events_since(live: DemoLive, before: int) -> list:
    """Every event stored after the store held ``before``: what is stored is what counts."""
    found = live.services.ledger.recorder.select_notifications(start=before + 1, limit=1000)
    return [live.services.ledger.mapper.to_domain_event(notification) for notification in found]


def one_lookup(live: DemoLive, before: int) -> Access.LoggedV2:
    """The one event stored since ``before``, which must be an access entry."""
    (access,) = events_since(live, before)
    assert isinstance(access, Access.LoggedV2)
    return access


def said(access) -> tuple:
    """Who looked, for what, and what they were answered."""
    return (access.holder, access.role, access.local_authority, access.read, access.query, access.outcome,
            access.break_glass)  # fmt: skip


def other_council_child(live: DemoLive) -> tuple[str, str]:
    """The demo's child of the neighbouring council (991), which the demo's practitioners may not
    read: (child id, NHS number)."""
    nhs = "9991860916"
    with live.services.engine.connect() as conn:
        return resolve_child(conn, nhs_number=nhs).id, nhs


def test_a_search_is_one_access_entry_naming_the_holder(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    nhs = demo_live.demo.child_nhs_number
    before = stored(demo_live)
    answer = client.get("/find", params={"kind": "nhs_number", "value": nhs})
    assert answer.status_code == 303 and answer.headers["location"].endswith(f"/children/{demo_live.child_id()}")
    access = one_lookup(demo_live, before)
    assert said(access) == (SAM, "practitioner", demo_live.demo.council, "search", {"nhs_number": nhs}, "allowed",
                            False)  # fmt: skip
    assert access.child == demo_live.child_id()


def test_another_councils_child_is_searched_for_exactly_as_an_unknown_identifier(demo_live):
    child_id, nhs = other_council_child(demo_live)
    unknown = "9434765919"  # valid, and named by no record of the demo
    client = demo_live.signed_in(demo_live.practitioner)
    before = stored(demo_live)
    refused = client.get("/find", params={"kind": "nhs_number", "value": nhs})
    middle = stored(demo_live)
    not_known = client.get("/find", params={"kind": "nhs_number", "value": unknown})
    assert refused.status_code == not_known.status_code == 404
    assert "No child is known to your council" in refused.text and 'name="break_glass"' in refused.text
    assert refused.text.replace(nhs, "NHS") == not_known.text.replace(unknown, "NHS"), "no oracle"
    first, second = events_since(demo_live, before)
    assert events_since(demo_live, middle) == [second]
    council = demo_live.demo.council
    assert said(first) == (SAM, "practitioner", council, "search", {"nhs_number": nhs}, "refused", False)
    assert said(second) == (SAM, "practitioner", council, "search", {"nhs_number": unknown}, "not_found", False)
    assert (first.child, second.child) == (child_id, None)


def test_a_break_glass_search_is_flagged_and_leads_to_the_flagged_page(demo_live):
    child_id, nhs = other_council_child(demo_live)
    client = demo_live.signed_in(demo_live.practitioner)
    reason = "Fictional: out-of-hours duty, the child is in our A&E tonight."
    before = stored(demo_live)
    answer = client.get("/find", params={"kind": "nhs_number", "value": nhs, "break_glass": reason})
    assert answer.status_code == 303 and f"/children/{child_id}?break_glass=" in answer.headers["location"]
    search = one_lookup(demo_live, before)
    assert said(search)[3:] == ("search", {"nhs_number": nhs}, "allowed", True) and search.reason == reason
    middle = stored(demo_live)
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and "outside your council" in page.text
    shown = one_lookup(demo_live, middle)
    assert said(shown)[3:] == ("child_page", {"child": child_id}, "allowed", True) and shown.reason == reason


@pytest.mark.parametrize("path, read", [("", "child_page"), ("/print", "print")])
def test_another_councils_child_page_is_the_page_of_an_unknown_child(demo_live, path, read):
    child_id, _ = other_council_child(demo_live)
    unknown = str(uuid.uuid4())
    client = demo_live.signed_in(demo_live.practitioner)
    before = stored(demo_live)
    refused = client.get(f"/children/{child_id}{path}")
    not_known = client.get(f"/children/{unknown}{path}")
    assert refused.status_code == not_known.status_code == 404
    assert "No child is known to your council" in refused.text and 'name="break_glass"' in refused.text
    assert refused.text.replace(child_id, "ID") == not_known.text.replace(unknown, "ID"), "no oracle"
    first, second = events_since(demo_live, before)
    council = demo_live.demo.council
    assert said(first) == (SAM, "practitioner", council, read, {"child": child_id}, "refused", False)
    assert said(second) == (SAM, "practitioner", council, read, {"child": unknown}, "not_found", False)
    assert (first.child, second.child) == (child_id, None)


def test_a_print_and_an_as_of_view_are_one_entry_each(demo_live):
    client = demo_live.signed_in(demo_live.inquiry)
    child = demo_live.child_id()
    then = demo_live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S")
    before = stored(demo_live)
    assert client.get(f"/children/{child}/print").status_code == 200
    printed = one_lookup(demo_live, before)
    assert said(printed) == (PANEL, "inquiry", None, "print", {"child": child}, "allowed", False)
    middle = stored(demo_live)
    assert client.get(f"/children/{child}", params={"as_of": then}).status_code == 200
    as_of = one_lookup(demo_live, middle)
    assert said(as_of) == (PANEL, "inquiry", None, "child_page", {"child": child}, "allowed", False)
    assert as_of.as_of == demo_live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_an_inquiry_searching_for_no_child_is_told_so_and_it_is_logged(demo_live):
    client = demo_live.signed_in(demo_live.inquiry)
    before = stored(demo_live)
    answer = client.get("/find", params={"kind": "upn", "value": "B801200005001"})  # valid, but no child has it
    assert answer.status_code == 404 and "No child is known by that identifier" in answer.text
    assert 'name="break_glass"' not in answer.text
    access = one_lookup(demo_live, before)
    assert said(access) == (PANEL, "inquiry", None, "search", {"upn": "B801200005001"}, "not_found", False)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/find?kind=local_id&value=NP-P-448170", id="reference-without-agency"),
        pytest.param("/find?kind=nickname&value=Ada", id="unknown-kind"),
        pytest.param("/find?kind=nhs_number&value=9434765919&break_glass=%00", id="nul-in-reason"),
        pytest.param("/children/{child}?as_of=yesterday", id="bad-as-of"),
        pytest.param("/children/%01{child}", id="control-character-in-id"),
    ],
)
def test_a_malformed_question_stores_nothing(demo_live, url):
    client = demo_live.signed_in(demo_live.practitioner)
    before = stored(demo_live)
    answer = client.get(url.format(child=demo_live.child_id()))
    assert answer.status_code in (400, 404) and "<html" in answer.text.lower()
    assert stored(demo_live) == before


def test_the_childs_council_sees_who_has_looked_by_name_never_by_token(demo_live):
    child_id = demo_live.child_id()
    demo_live.signed_in(demo_live.inquiry).get(f"/children/{child_id}")
    outsider = demo_live.signed_in(demo_live.other_council)
    assert outsider.get(f"/children/{child_id}").status_code == 404
    page = demo_live.signed_in(demo_live.practitioner).get(f"/children/{child_id}")
    assert page.status_code == 200
    history = page.text.split('data-testid="access-history"')[1].split("</table>")[0]
    assert PANEL in history and "inquiry" in history
    assert ALEX in history and "council 123" in history and 'data-outcome="refused"' in history
    with demo_live.services.engine.connect() as conn:
        token_ids = set(conn.execute(select(access_reads.c.token_id)).scalars())
    assert token_ids and not any(token in page.text for token in token_ids), "names, never token ids"
