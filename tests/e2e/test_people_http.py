"""People, not tokens (SPEC 6.1) over real HTTP and in the web view, on both backends: an admin's
token issue and revoke are log entries naming the admin (never the secret); decisions and links name
the practitioner's holder, role and council, and pages show the name, never a token id."""

from __future__ import annotations

import re

from api import tokens
from domain.decisions import PromptDecision
from domain.entries import decode_entry, entry_bytes
from domain.links import IdentityLink
from projections.checkpoints import entries as leaf_entries
from projections.integrity import tree_size
from tests.api_live import Live, live  # noqa: F401 - the fixture
from tests.e2e.test_api_reads import make_case
from tests.e2e.test_api_records import assert_problem
from tests.integration.test_people_entries import secret_forms
from tests.web_demo import CSRF_FIELD, csrf_of, demo_live  # noqa: F401 - the fixture


def newest(services):
    """The newest stored event and its entry, which must also be the newest leaf of the Merkle log."""
    (note,) = services.ledger.recorder.select_notifications(start=services.ledger.recorder.max_notification_id(),
                                                            limit=1)  # fmt: skip
    event = services.ledger.mapper.to_domain_event(note)
    with services.engine.connect() as conn:
        size = tree_size(conn)
        assert leaf_entries(conn, size - 1, size) == [entry_bytes(event)]
    return event, decode_entry(entry_bytes(event))


def token_id_of(services, secret: str) -> str:
    with services.engine.connect() as conn:
        return tokens.authenticate(conn, secret).token_id


def every_entry(services) -> list[bytes]:
    notes = services.ledger.recorder.select_notifications(start=1, limit=1_000_000)
    return [entry_bytes(services.ledger.mapper.to_domain_event(n)) for n in notes]


def test_an_admin_issues_and_revokes_a_token_over_http_as_entries_naming_the_admin(live: Live) -> None:
    admin = live.token("admin", holder="Jo Admin (fictional)")
    admin_by = {"holder": "Jo Admin (fictional)", "role": "admin", "token_id": token_id_of(live.services, admin)}
    agency = live.agency()
    before = live.stored_events()
    with live.client(admin) as client:
        answer = client.post("/v1/admin/tokens", json={"role": "agency", "agency": agency,
                                                       "expires": "2099-06-30T12:00:00+01:00"})  # fmt: skip
        assert answer.status_code == 201, answer.text
        issued = answer.json()
        assert live.stored_events() == before + 1
        _, entry = newest(live.services)
        assert {k: entry[k] for k in ("kind", "token_id", "holder", "role", "agency", "local_authority",
                                      "expires_at", "by")} == {
            "kind": "token_issued", "token_id": issued["token_id"], "holder": None, "role": "agency",
            "agency": agency, "local_authority": None, "expires_at": "2099-06-30T11:00:00.000000Z", "by": admin_by,
        }  # fmt: skip
        with live.client(issued["token"]) as agency_client:  # the token works once the entry is there
            assert agency_client.post("/v1/records", json={}).status_code != 401
        revoked = client.post(f"/v1/admin/tokens/{issued['token_id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert live.stored_events() == before + 2
        _, entry = newest(live.services)
        assert (entry["kind"], entry["token_id"], entry["agency"], entry["by"]) == (
            "token_revoked", issued["token_id"], agency, admin_by)
        assert client.post(f"/v1/admin/tokens/{issued['token_id']}/revoke").status_code == 200
        assert live.stored_events() == before + 2  # revoking again logs nothing more
        refused = client.post("/v1/admin/tokens", json={"role": "inquiry"})  # no holder
        assert_problem(refused, 422, "invalid-payload")
        assert live.stored_events() == before + 2
    with live.client(issued["token"]) as agency_client:
        assert agency_client.post("/v1/records", json={}).status_code == 401
    entries = every_entry(live.services)
    for secret in (issued["token"], admin):
        assert not any(form in entry for form in secret_forms(secret) for entry in entries)


def test_a_decision_and_a_link_over_http_name_the_holder_role_and_council(live: Live) -> None:
    case = make_case(live)
    sam = live.token("practitioner", local_authority="309", holder="Sam Example (fictional)")
    sam_by = {"holder": "Sam Example (fictional)", "role": "practitioner", "local_authority": "309",
              "token_id": token_id_of(live.services, sam)}  # fmt: skip
    shown = "Sam Example (fictional) (practitioner, council 309)"
    with live.client(sam) as client:
        risk = client.get("/v1/risk", params={"nhs_number": case.nhs}).json()
        prompt = risk["prompts"][0]
        decision = {"child": risk["child"]["id"], "prompt_id": prompt["prompt_id"], "decision": "acknowledged",
                    "reason": "Fictional: known to the team."}  # fmt: skip
        assert client.post("/v1/risk/decisions", json=decision).status_code == 201
        event, entry = newest(live.services)
        assert isinstance(event, PromptDecision.DecidedV2)
        assert (entry["kind"], entry["by"], entry["decided_by"]) == ("prompt_decision", sam_by, shown)
        again = client.get("/v1/risk", params={"nhs_number": case.nhs}).json()
        (decided,) = next(p for p in again["prompts"] if p["prompt_id"] == prompt["prompt_id"])["decisions"]
        assert decided["decided_by"] == shown
        link = {"identifiers": [{"nhs_number": case.nhs}, {"agency": case.police, "local_id": "NP-PEOPLE-1"}],
                "reason": "Fictional: confirmed with the school."}  # fmt: skip
        assert client.post("/v1/identity/links", json=link).status_code == 201
        event, entry = newest(live.services)
        assert isinstance(event, IdentityLink.LinkedV2)
        assert (entry["kind"], entry["by"], entry["linked_by"]) == ("identity_linked", sam_by, shown)


def test_decisions_and_links_in_the_web_view_name_the_holder_and_pages_show_no_token_id(demo_live) -> None:
    services = demo_live.services
    token_id = token_id_of(services, demo_live.practitioner)
    sam_by = {"holder": "Sam Example", "role": "practitioner", "local_authority": demo_live.demo.council,
              "token_id": token_id}  # fmt: skip
    shown = f"Sam Example (practitioner, council {demo_live.demo.council})"
    client = demo_live.signed_in(demo_live.practitioner)
    child = f"/children/{demo_live.child_id()}"
    page = client.get(child)
    prompt_id = re.search(r'id="prompt-([0-9a-f-]+)"', page.text).group(1)
    form = {"prompt_id": prompt_id, "decision": "acknowledged", "reason": "Fictional: reviewed at MASH.",
            CSRF_FIELD: csrf_of(page.text)}  # fmt: skip
    assert client.post(f"{child}/decisions", data=form).status_code == 303
    event, entry = newest(services)
    assert isinstance(event, PromptDecision.DecidedV2) and entry["by"] == sam_by and entry["decided_by"] == shown
    page = client.get(child)
    assert f"by {shown}" in page.text and token_id not in page.text
    match = re.search(r'<li data-child="([^"]+)">', page.text)
    assert match, "the demo child has a possible match"
    linked = client.post(f"{child}/links", data={"other_child": match.group(1), CSRF_FIELD: csrf_of(page.text),
                                                 "reason": "Fictional: same mother and address."})  # fmt: skip
    assert linked.status_code == 303
    event, entry = newest(services)
    assert isinstance(event, IdentityLink.LinkedV2) and entry["by"] == sam_by and entry["linked_by"] == shown
    printed = client.get(f"{child}/print")
    assert printed.status_code == 200
    assert f"by {shown}" in printed.text and "by Sam Example (practitioner" in printed.text
    assert token_id not in printed.text
