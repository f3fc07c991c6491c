"""Need to know decided by trusted facts, and councils told (SPEC 6.2, 6.3), over real HTTP on both
backends: a child's councils are its current records', a link needs read access to every child it
joins, possible matches in another council show nothing of the other child (JSON and web page), and
``GET /v1/notifications`` lists what each council is told, the same after a rebuild."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass

from api import tokens
from api.web_session import CSRF_FIELD
from domain.access import Access
from domain.links import IdentityLink
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.web_demo import csrf_of

REASON = "Fictional: the child was brought to our A&E out of hours"


@dataclass
class Reader:
    secret: str
    token_id: str
    holder: str


@dataclass
class Pair:
    """A child of council 309 and a lookalike child of council 310 (similar name, same postcode,
    another date of birth), with a practitioner of each council and an inquiry."""

    police: str
    health: str
    nhs: str
    other_nhs: str
    other_ref: str
    other_surname: str
    own: Reader
    other: Reader
    inquiry: str

    def secrets(self) -> tuple[str, ...]:
        """Everything that identifies the 310 child and that a 309 reader must never be shown."""
        return (self.other_nhs, self.other_ref, self.other_surname, "2025-11-30", "30 Nov")


def reader(live: Live, council: str) -> Reader:
    holder = f"Fictional practitioner of {council} {fresh_nhs_number()}"
    secret, info = tokens.issue(live.services.engine, "practitioner", local_authority=council, holder=holder)
    return Reader(secret, info.token_id, holder)


def make_pair(live: Live) -> Pair:
    police, health = live.agency("police"), live.agency("health", serves=("309", "310", "311", "312"))
    nhs, other_nhs, other_ref = fresh_nhs_number(), fresh_nhs_number(), f"NP-PERSON-{fresh_nhs_number()}"
    given = "".join(random.choice(string.ascii_lowercase) for _ in range(8)).title()  # no pair resembles another
    postcode = f"ZZ{random.randrange(10, 99)} {random.randrange(1, 9)}ZZ"
    mine = {"nhs_number": nhs, "given_name": given, "family_name": "Example", "date_of_birth": "2025-12-01",
            "postcode": postcode}  # fmt: skip
    theirs = {"nhs_number": other_nhs, "given_name": given, "family_name": "Exampel", "date_of_birth": "2025-11-30",
              "postcode": postcode}  # fmt: skip
    live.services.submit([live.envelope(concern("H-1", agency=health, subject=mine))], health)
    live.services.submit([live.envelope(concern("P-1", agency=police, subject=theirs, local_authority="310")),
                          live.envelope(concern("P-2", agency=police, local_authority="310",
                                                subject={"local_id": other_ref, "family_name": theirs["family_name"]})),
                          live.envelope({"agency": police, "record_id": "P-L", "type": "identity_link",
                                         "local_authority": "310",
                                         "same_child": [{"nhs_number": other_nhs}, {"local_id": other_ref}]})],
                         police)  # fmt: skip
    return Pair(police, health, nhs, other_nhs, other_ref, theirs["family_name"], reader(live, "309"),
                reader(live, "310"), live.token("inquiry"))  # fmt: skip


def child_id(live: Live, token: str, **selector) -> str:
    with live.client(token) as client:
        return client.get("/v1/chronology", params=selector).json()["child"]["id"]


def notifications(live: Live, who: Reader, **params) -> list[dict]:
    with live.client(who.secret) as client:
        response = client.get("/v1/notifications", params=params)
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


def stored_links(live: Live) -> int:
    events = live.services.ledger.recorder.select_notifications(start=0, limit=10**9, inclusive_of_start=False)
    return sum(isinstance(live.services.ledger.mapper.to_domain_event(n), IdentityLink.Linked) for n in events)


def newest_events(live: Live, count: int) -> list:
    head = live.stored_events()
    found = live.services.ledger.recorder.select_notifications(start=head - count + 1, limit=count)
    return [live.services.ledger.mapper.to_domain_event(n) for n in found]


def test_a_retracted_or_amended_records_council_no_longer_grants_access(live):
    pair = make_pair(live)
    original = concern("H-7", agency=pair.health, subject={"nhs_number": pair.nhs}, local_authority="311")
    live.services.submit([live.envelope(original)], pair.health)
    council_311, council_312 = reader(live, "311"), reader(live, "312")
    with live.client(council_311.secret) as client:
        assert client.get("/v1/chronology", params={"nhs_number": pair.nhs}).status_code == 200
    amended = dict(original, record_id="H-7a", type="amendment", amends="H-7", local_authority="312")
    live.services.submit([live.envelope(amended)], pair.health)
    with live.client(council_311.secret) as client:
        assert client.get("/v1/chronology", params={"nhs_number": pair.nhs}).status_code in (403, 404)
    with live.client(council_312.secret) as client:
        assert client.get("/v1/chronology", params={"nhs_number": pair.nhs}).status_code == 200
    retracted = {"agency": pair.health, "record_id": "H-7r", "type": "retraction", "amends": "H-7a",
                 "summary": "Fictional: recorded against the wrong council."}  # fmt: skip
    live.services.submit([live.envelope(retracted)], pair.health)
    with live.client(council_312.secret) as client:
        assert client.get("/v1/chronology", params={"nhs_number": pair.nhs}).status_code in (403, 404)
    with live.client(pair.own.secret) as client:
        assert client.get("/v1/chronology", params={"nhs_number": pair.nhs}).status_code == 200
    told = [(n["kind"], n["record_id"], n["councils"]) for n in notifications(live, pair.own)]
    assert told[:2] == [("new_council", "H-7a", ["312"]), ("new_council", "H-7", ["311"])]


def test_a_link_to_another_councils_child_needs_break_glass_is_flagged_and_shows_nothing_of_it(live):
    pair = make_pair(live)
    other_child = child_id(live, pair.inquiry, nhs_number=pair.other_nhs)
    link = {"identifiers": [{"nhs_number": pair.nhs}, {"nhs_number": pair.other_nhs}],
            "reason": "Fictional: same mother and address confirmed at the strategy discussion."}  # fmt: skip
    links_before = stored_links(live)
    with live.client(pair.own.secret) as client:
        refused = client.post("/v1/identity/links", json=link)
        assert refused.status_code in (403, 404), refused.text
        assert stored_links(live) == links_before
        allowed = client.post("/v1/identity/links", json=link, params={"break_glass": REASON})
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["break_glass"] is True
    assert allowed.json()["child"]["identifiers"] == [{"nhs_number": pair.nhs}]
    assert not [secret for secret in pair.secrets() if secret in allowed.text]
    link_event, access = newest_events(live, 2)
    assert isinstance(link_event, IdentityLink.Linked) and isinstance(access, (Access.Logged, Access.LoggedV2))
    assert (access.read, access.child, access.break_glass, access.reason, access.local_authority) == (
        "link", other_child, True, REASON, "309")
    link_id = allowed.json()["link_id"]
    told_310 = notifications(live, pair.other)
    assert [(n["kind"], n["councils"], n["reason"]) for n in told_310[:2]] == [
        ("break_glass_read", ["309"], REASON), ("cross_council_link", ["309", "310"], link["reason"])]
    assert told_310[0]["who"] in (pair.own.holder, pair.own.token_id) and told_310[0]["read"] == "link"
    assert told_310[1]["link_id"] == link_id
    told_309 = notifications(live, pair.own)
    assert [(n["kind"], n["link_id"]) for n in told_309[:1]] == [("cross_council_link", link_id)]
    assert not [n for n in told_309 if n["kind"] == "break_glass_read"]  # 309 broke glass, 310 is told


def test_other_councils_possible_matches_show_only_that_they_exist(live):
    pair = make_pair(live)
    other_child = child_id(live, pair.inquiry, nhs_number=pair.other_nhs)
    with live.client(pair.own.secret) as client:
        response = client.get("/v1/identity/matches", params={"nhs_number": pair.nhs})
    assert response.status_code == 200, response.text
    (match,) = response.json()["matches"]
    assert match == {"child": {"id": other_child, "identifiers": []}, "similarity": None, "reasons": [],
                     "restricted": True, "records": [], "more_records": 0}  # fmt: skip
    assert not [secret for secret in pair.secrets() if secret in response.text]
    with live.client(pair.inquiry) as client:
        full = client.get("/v1/identity/matches", params={"nhs_number": pair.nhs}).json()["matches"]
    assert full[0]["restricted"] is False and {"nhs_number": pair.other_nhs} in full[0]["child"]["identifiers"]
    with live.client(pair.own.secret) as client:  # seeing it is a break-glass read, told to its council
        assert client.get("/v1/chronology", params={"child": other_child}).status_code in (403, 404)
        seen = client.get("/v1/chronology", params={"child": other_child, "break_glass": REASON})
    assert seen.status_code == 200 and seen.json()["child"]["id"] == other_child
    (told,) = [n for n in notifications(live, pair.other) if n["child"] == other_child][:1]
    assert (told["kind"], told["reason"], told["read"], told["councils"]) == (
        "break_glass_read", REASON, "chronology", ["309"])


def test_the_child_page_shows_another_councils_match_as_existing_only(live):
    pair = make_pair(live)
    other_child = child_id(live, pair.inquiry, nhs_number=pair.other_nhs)
    own_child = child_id(live, pair.own.secret, nhs_number=pair.nhs)
    with live.client() as browser:
        form = browser.get("/sign-in")
        signed = browser.post("/sign-in", data={"token": pair.own.secret, CSRF_FIELD: csrf_of(form.text)})
        assert signed.status_code == 303, signed.text
        page = browser.get(f"/children/{own_child}")
    assert page.status_code == 200, page.text
    assert f'<li data-child="{other_child}" data-restricted="true">' in page.text
    assert f'name="other_child" value="{other_child}"' not in page.text  # no link form for it
    assert not [secret for secret in pair.secrets() if secret in page.text]


def test_notifications_are_for_practitioners_of_the_council_newest_first_paged_and_rebuilt_alike(live):
    pair = make_pair(live)
    live.services.submit([live.envelope(concern("H-8", agency=pair.health, subject={"nhs_number": pair.nhs},
                                                local_authority="311"))], pair.health)  # fmt: skip
    own_child = child_id(live, pair.own.secret, nhs_number=pair.nhs)
    with live.client(pair.other.secret) as client:
        assert client.get("/v1/risk", params={"child": own_child, "break_glass": REASON}).status_code == 200
    everything = notifications(live, pair.own, limit=1000)
    assert [n["leaf_index"] for n in everything] == sorted((n["leaf_index"] for n in everything), reverse=True)
    newest = everything[0]
    assert (newest["kind"], newest["child"], newest["reason"], newest["read"]) == (
        "break_glass_read", own_child, REASON, "risk")
    assert newest["who"] in (pair.other.holder, pair.other.token_id) and newest["at"].endswith("Z")
    assert ("new_council", "H-8", ["311"]) in [(n["kind"], n["record_id"], n["councils"]) for n in everything]
    assert notifications(live, pair.own, limit=1, offset=1) == everything[1:2]
    live.services.runner.rebuild("notifications")
    assert notifications(live, pair.own, limit=1000) == everything
    for token in (pair.inquiry, live.token("admin"), live.token("agency", agency=pair.police)):
        with live.client(token) as client:
            assert client.get("/v1/notifications").status_code == 403
    with live.client(pair.own.secret) as client:
        assert client.get("/v1/notifications", params={"limit": 0}).status_code == 400
        assert json.loads(client.get("/v1/notifications").text)["council"] == "309"
