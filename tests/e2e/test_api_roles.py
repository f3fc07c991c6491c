"""Who may do what: every role against every endpoint, from one table (SPEC section 3, Roles).

"allowed" means the role passes authorisation (the answer is neither 401 nor 403; it may still be
refused for its content); "refused" means 403; without a valid token everything is 401 but the
few public operations (PUBLIC), which answer anyone. The table
must name every operation the OpenAPI document lists, so a new endpoint cannot skip this test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import tokens
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern

ROLES = ("agency", "practitioner", "inquiry", "admin")
_ids = itertools.count()


@dataclass
class World:
    """One child of council 309 with a prompt raised, and a token of each role."""

    live: Live
    agency: str
    nhs: str
    child: str
    prompt: str
    tokens: dict[str, str]
    leaf: int = 0  # the leaf of the agency's own record W-1

    def envelope(self) -> dict:
        return self.live.envelope(concern(f"roles-{next(_ids)}", agency=self.agency, subject={"nhs_number": self.nhs}))


def _pem() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


Request = Callable[[World], tuple[str, str, dict]]

#: (method, path) -> (request builder, the roles allowed).
TABLE: dict[tuple[str, str], tuple[Request, set[str]]] = {
    ("POST", "/v1/records"): (lambda w: ("POST", "/v1/records", {"json": w.envelope()}), {"agency"}),
    ("POST", "/v1/records/batch"): (
        lambda w: ("POST", "/v1/records/batch", {"json": {"envelopes": [w.envelope()]}}), {"agency"}),
    ("GET", "/v1/chronology"): (
        lambda w: ("GET", "/v1/chronology", {"params": {"nhs_number": w.nhs}}), {"practitioner", "inquiry"}),
    ("GET", "/v1/risk"): (lambda w: ("GET", "/v1/risk", {"params": {"child": w.child}}), {"practitioner", "inquiry"}),
    ("GET", "/v1/identity/matches"): (
        lambda w: ("GET", "/v1/identity/matches", {"params": {"nhs_number": w.nhs}}), {"practitioner", "inquiry"}),
    ("GET", "/v1/children/search"): (
        lambda w: ("GET", "/v1/children/search", {"params": {"family_name": "Example", "date_of_birth": "2020-01-01"}}),
        {"practitioner", "inquiry"}),
    ("POST", "/v1/risk/decisions"): (
        lambda w: ("POST", "/v1/risk/decisions", {"json": {"child": w.child, "prompt_id": w.prompt,
                                                           "decision": "acknowledged", "reason": "Fictional."}}),
        {"practitioner"}),
    ("POST", "/v1/identity/links"): (
        lambda w: ("POST", "/v1/identity/links", {"json": {
            "identifiers": [{"nhs_number": w.nhs}, {"agency": w.agency, "local_id": f"L-{next(_ids)}"}],
            "reason": "Fictional."}}),
        {"practitioner"}),
    ("GET", "/v1/access"): (
        lambda w: ("GET", "/v1/access", {"params": {"nhs_number": w.nhs}}), {"practitioner", "inquiry"}),
    ("GET", "/v1/notifications"): (lambda w: ("GET", "/v1/notifications", {}), {"practitioner"}),
    ("GET", "/v1/log/entries"): (lambda w: ("GET", "/v1/log/entries", {"params": {"start": 0, "end": 2}}), {"inquiry"}),
    ("GET", "/v1/bundle"): (lambda w: ("GET", "/v1/bundle", {"params": {"nhs_number": w.nhs}}), {"inquiry"}),
    ("GET", "/v1/log/checkpoint"): (lambda w: ("GET", "/v1/log/checkpoint", {}), set(ROLES)),
    ("GET", "/v1/log/key"): (lambda w: ("GET", "/v1/log/key", {}), set(ROLES)),
    ("GET", "/v1/log/proof/inclusion"): (
        lambda w: ("GET", "/v1/log/proof/inclusion", {"params": {"index": 0, "size": 1}}), set(ROLES)),
    ("GET", "/v1/log/proof/consistency"): (
        lambda w: ("GET", "/v1/log/proof/consistency", {"params": {"from": 1, "to": 2}}), set(ROLES)),
    ("GET", "/v1/log/keys"): (lambda w: ("GET", "/v1/log/keys", {}), set(ROLES)),
    ("GET", "/v1/log/witnesses"): (lambda w: ("GET", "/v1/log/witnesses", {}), set(ROLES)),
    ("POST", "/v1/log/cosignatures"): (lambda w: ("POST", "/v1/log/cosignatures", {"content": "x\n"}), set(ROLES)),
    ("GET", "/v1/receipts"): (lambda w: ("GET", "/v1/receipts", {"params": {"leaf_index": w.leaf}}), {"agency", "inquiry"}),
    ("POST", "/v1/admin/agencies"): (
        lambda w: ("POST", "/v1/admin/agencies", {"json": {"id": f"roles-agency-{next(_ids)}", "kind": "school",
                                                            "name": "Fictional school", "public_key": _pem(),
                                                            "serves": ["309"]}}),
        {"admin"}),
    ("GET", "/v1/admin/agencies/{agency_id}"): (
        lambda w: ("GET", f"/v1/admin/agencies/{w.agency}", {}), {"admin"}),
    ("POST", "/v1/admin/agencies/{agency_id}/keys"): (
        lambda w: ("POST", f"/v1/admin/agencies/{w.agency}/keys",
                   {"json": {"public_key": _pem(), "override": "Fictional: role table."}}), {"admin"}),
    ("POST", "/v1/admin/agencies/{agency_id}/serves"): (
        lambda w: ("POST", f"/v1/admin/agencies/{w.agency}/serves", {"json": {"serves": ["309", "310"]}}), {"admin"}),
    ("POST", "/v1/admin/agencies/{agency_id}/keys/{keyid}/revoke"): (
        lambda w: ("POST", f"/v1/admin/agencies/{w.agency}/keys/{'0' * 64}/revoke", {"json": {"reason": "lost"}}),
        {"admin"}),
    ("POST", "/v1/admin/tokens"): (
        lambda w: ("POST", "/v1/admin/tokens", {"json": {"role": "inquiry", "expires": "2099-01-01", "holder": "Reviewer"}}), {"admin"}),
    ("GET", "/v1/admin/tokens"): (lambda w: ("GET", "/v1/admin/tokens", {}), {"admin"}),
    ("GET", "/v1/schema/record.v1.json"): (lambda w: ("GET", "/v1/schema/record.v1.json", {}), set(ROLES)),
    ("POST", "/v1/admin/tokens/{token_id}/revoke"): (
        lambda w: ("POST", f"/v1/admin/tokens/{tokens.issue(w.live.services.engine, 'inquiry', holder='Reviewer')[1].token_id}/revoke",
                   {}),
        {"admin"}),
}  # fmt: skip


#: Operations that need no token (docs/api.md says why): any caller, with any token or none, gets 200.
PUBLIC = {("GET", "/v1/schema/record.v1.json")}


def statuses_for(world: World, token: str | None) -> dict[tuple[str, str], int]:
    """The status every operation of the table answers for ``token``."""
    found = {}
    with world.live.client(token) as client:
        for operation, (build, _) in TABLE.items():
            verb, url, kwargs = build(world)
            found[operation] = client.request(verb, url, **kwargs).status_code
    return found


@pytest.fixture(scope="module")
def world(live) -> World:
    police, health = live.agency("police"), live.agency("health")
    nhs = fresh_nhs_number()
    leaves = {}
    for agency, record_id in ((police, "W-1"), (health, "W-2")):
        (receipt,) = live.services.submit([live.envelope(concern(record_id, agency=agency, subject={"nhs_number": nhs}))],
                                          agency)  # fmt: skip
        leaves[record_id] = receipt["leaf_index"]
    issued = {
        "agency": live.token("agency", agency=police),
        "practitioner": live.token("practitioner", local_authority="309"),
        "inquiry": live.token("inquiry"),
        "admin": live.token("admin"),
    }
    with live.client(issued["inquiry"]) as client:
        risk = client.get("/v1/risk", params={"nhs_number": nhs}).json()
    return World(live, police, nhs, risk["child"]["id"], risk["prompts"][0]["prompt_id"], issued, leaves["W-1"])


def test_the_table_covers_every_operation(live):
    with live.client() as client:
        paths = client.get("/v1/openapi.json").json()["paths"]
    operations = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert operations == set(TABLE)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_do_exactly_what_the_table_allows(world, role):
    wrong = []
    statuses = statuses_for(world, world.tokens[role])
    for (method, path), (_, allowed) in TABLE.items():
        status = statuses[(method, path)]
        expected_refusal = role not in allowed
        if status == 401 or (status == 403) != expected_refusal:
            wrong.append(f"{role} {method} {path}: {status}")
    assert not wrong


@pytest.mark.parametrize("token", [None, "sgl_unknown", "revoked"])
def test_without_a_valid_token_every_endpoint_is_401(world, token):
    if token == "revoked":
        token, info = tokens.issue(world.live.services.engine, "admin", holder="Admin")
        tokens.revoke(world.live.services.engine, info.token_id)
    statuses = statuses_for(world, token)
    assert {f"{method} {path}": status for (method, path), status in statuses.items()
            if status != (200 if (method, path) in PUBLIC else 401)} == {}  # fmt: skip


def test_admin_never_reads_a_child_even_with_break_glass(world):
    with world.live.client(world.tokens["admin"]) as client:
        for path in ("/v1/chronology", "/v1/risk", "/v1/identity/matches", "/v1/access", "/v1/bundle"):
            response = client.get(path, params={"nhs_number": world.nhs, "break_glass": "Fictional: curious"})
            assert response.status_code == 403, path
