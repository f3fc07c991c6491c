"""Agencies serve councils (SPEC 6.2): a record naming a council its agency does not serve is refused
(422 invalid-payload) and nothing is stored, judged by the agency's areas at the append; areas change
by an administrator's act, which the log records with the administrator's name. An agency
registered by a version 1 entry serves no council until its areas are set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, strategies as st

from api.keyfiles import ensure_checkpoint_key
from api.tokens import Principal
from domain import envelope as dsse
from domain.agencies import Agency, check_serves, refuse_unserved
from domain.errors import InvalidPayload, LedgerError, NotFound
from domain.records import record_aggregate_id
from projections.eventstore import open_ledger
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.log_entries import entries_of, stored_count

AGENCY = "northshire-police"  # the ``registered`` fixture's, serving 309 and 310
ADMIN = Principal(token_id="0123456789abcdef", role="admin", holder="Jo Admin (fictional)")


def submit_one(services, envelope):
    (result,) = services.submit([envelope])
    return result


def refused_and_nothing_stored(services, envelope, words: str) -> None:
    before = stored_count(services)
    result = submit_one(services, envelope)
    assert isinstance(result, InvalidPayload), result
    assert result.slug == "invalid-payload" and words in str(result)
    assert stored_count(services) == before


# The rule, pure -------------------------------------------------------------------------------

CODES = st.from_regex(r"[0-9]{3}", fullmatch=True)


@given(serves=st.lists(CODES, min_size=1, max_size=20), council=st.none() | CODES)
def test_a_record_is_accepted_exactly_when_it_names_no_council_or_one_served(serves, council):
    areas = check_serves(serves)
    assert list(areas) == sorted(set(serves))
    try:
        refuse_unserved(AGENCY, frozenset(areas), council)
    except InvalidPayload:
        accepted = False
    else:
        accepted = True
    assert accepted == (council is None or council in serves)


@pytest.mark.parametrize(
    "serves, words",
    [([], "1-500 councils"), ("309", "list of council codes"), (["30"], "three digits"),
     (["\u0663\u0660\u0669"], "three digits"), ([309], "three digits"), (["309"] * 501, "1-500")],
)  # fmt: skip
def test_what_an_agency_serves_must_be_council_codes(serves, words):
    with pytest.raises(InvalidPayload, match=words):
        check_serves(serves)


# On both backends ----------------------------------------------------------------------------


def test_a_record_for_a_council_the_agency_does_not_serve_is_refused(services, registered, signed):
    refused_and_nothing_stored(services, signed(concern("ref-1", local_authority="311")),
                               "local_authority 311 is not a council agency northshire-police serves (309, 310)")
    assert isinstance(submit_one(services, signed(concern("ref-1", local_authority="309"))), dict)
    assert isinstance(submit_one(services, signed(concern("ref-2", local_authority="310"))), dict)
    assert isinstance(submit_one(services, signed(concern("ref-3", local_authority=None))), dict)
    retraction = {"agency": AGENCY, "record_id": "ref-4", "type": "retraction", "amends": "ref-1",
                  "summary": "Fictional: wrong child.", "local_authority": "311"}  # fmt: skip
    refused_and_nothing_stored(services, signed(retraction), "not a council")


def test_changing_areas_is_an_entry_naming_the_admin_and_rules_from_then_on(services, registered, signed):
    before = submit_one(services, signed(concern("ref-1", local_authority="309")))
    agency = services.admin.change_areas(ADMIN, AGENCY, ["311", "311", "310"])
    assert agency["serves"] == ["310", "311"]
    (entry,) = entries_of(services, "agency_areas_changed")
    assert (entry["agency"], entry["serves"], entry["changed_by"]) == (AGENCY, ["310", "311"], "Jo Admin (fictional)")
    refused_and_nothing_stored(services, signed(concern("ref-2", local_authority="309")), "not a council")
    assert isinstance(submit_one(services, signed(concern("ref-2", local_authority="311"))), dict)
    # What was recorded before stays; sent again it is judged like a new record (as after a key's
    # revocation), and refused.
    refused_and_nothing_stored(services, signed(concern("ref-1", local_authority="309")), "not a council")
    assert services.ledger.repository.get(record_aggregate_id(AGENCY, "ref-1")).version == 1
    assert before["leaf_index"] == 2


def test_area_changes_refuse_what_makes_no_sense_and_store_nothing(services, registered):
    before = stored_count(services)
    for serves, error in (([], InvalidPayload), (["3O9"], InvalidPayload)):
        with pytest.raises(error):
            services.admin.change_areas(ADMIN, AGENCY, serves)
    with pytest.raises(NotFound):
        services.admin.change_areas(ADMIN, "nowhere", ["309"])
    with pytest.raises(LedgerError, match="forbidden|may not"):
        services.admin.change_areas(Principal("f" * 16, "practitioner", local_authority="309", holder="Sam"), AGENCY, ["309"])
    assert stored_count(services) == before


def test_areas_changed_while_a_batch_is_judged_are_honoured_at_the_append(
    services, registered, signed, database_url, monkeypatch
):
    """Another process moves the agency to other councils after this one read its areas but
    before it appends: the append notices, stores nothing, and the batch is judged again."""
    read = services.ledger._signing_keys
    other_process = open_ledger(database_url)
    other_process.sign_entries_with(ensure_checkpoint_key(Path(services.settings.checkpoint_key)))

    def read_then_change(agency_id):
        keys = read(agency_id)
        if "309" in other_process.agency(AGENCY).serves:
            other_process.change_areas(AGENCY, ["311"], by="Other Admin (fictional)")
        return keys

    monkeypatch.setattr(services.ledger, "_signing_keys", read_then_change)
    try:
        before = stored_count(services)
        result = submit_one(services, signed(concern(local_authority="309")))
    finally:
        other_process.close()
    assert isinstance(result, InvalidPayload) and "not a council" in str(result)
    assert stored_count(services) == before + 1  # the areas change only


def register_version_1(services, agency_id: str, key: Ed25519PrivateKey) -> None:
    """An agency as the ledger registered it before areas existed: version 1 events only."""
    agency = Agency._create(Agency.Registered, agency_id=agency_id, kind="school", name="Oakfield (fictional)")
    public = key.public_key()
    agency._key_added(agency_id=agency_id, keyid=dsse.key_id(public), public_key=dsse.raw_public_key(public))
    services.ledger.save(agency)
    services.runner.catch_up()


def test_an_agency_registered_before_areas_serves_no_council_until_they_are_set(services):
    key = Ed25519PrivateKey.generate()
    register_version_1(services, "oakfield-school", key)
    (registered,) = entries_of(services, "agency_registered")
    assert set(registered) - {"ledger_sig"} == {"v", "kind", "at", "originator", "agency", "agency_kind", "name"}  # v1 fields kept
    assert services.admin.agency(ADMIN, "oakfield-school")["serves"] == []

    def envelope(record_id: str, council: str | None) -> dict:
        payload = concern(record_id, agency="oakfield-school", local_authority=council)
        return dsse.sign(json.dumps(payload).encode(), key)

    refused_and_nothing_stored(services, envelope("S-1", "309"), "has no recorded areas")
    assert isinstance(submit_one(services, envelope("S-1", None)), dict)
    services.admin.change_areas(ADMIN, "oakfield-school", ["309"])
    assert isinstance(submit_one(services, envelope("S-2", "309")), dict)


# Over HTTP ------------------------------------------------------------------------------------


def _pem(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_agencies_serve_councils_over_http(live: Live):
    admin = live.token("admin", holder="Jo Admin (fictional)")
    key = Ed25519PrivateKey.generate()
    agency_id = f"school-{fresh_nhs_number()}"
    body = {"id": agency_id, "kind": "school", "name": "Fictional school", "public_key": _pem(key)}
    with live.client(admin) as client:
        before = live.stored_events()
        for wrong in ({}, {"serves": []}, {"serves": ["30"]}, {"serves": "309"}):
            answer = client.post("/v1/admin/agencies", json={**body, **wrong})
            assert answer.status_code == 400, answer.text
        assert live.stored_events() == before
        answer = client.post("/v1/admin/agencies", json={**body, "serves": ["310", "309"]})
        assert answer.status_code == 201, answer.text
        assert answer.json()["serves"] == ["309", "310"]
    live.keys[agency_id] = key
    nhs = fresh_nhs_number()
    agency_token = live.token("agency", agency=agency_id)
    with live.client(agency_token) as client:
        before = live.stored_events()
        refused = client.post("/v1/records", json=live.envelope(
            concern("S-1", agency=agency_id, subject={"nhs_number": nhs}, local_authority="311")))  # fmt: skip
        assert refused.status_code == 422 and refused.json()["type"].endswith("/invalid-payload"), refused.text
        assert live.stored_events() == before
    with live.client(admin) as client:
        changed = client.post(f"/v1/admin/agencies/{agency_id}/serves", json={"serves": ["311"]})
        assert changed.status_code == 200 and changed.json()["serves"] == ["311"], changed.text
        assert client.post("/v1/admin/agencies/nowhere/serves", json={"serves": ["311"]}).status_code == 404
    with live.client(agency_token) as client:
        accepted = client.post("/v1/records", json=live.envelope(
            concern("S-1", agency=agency_id, subject={"nhs_number": nhs}, local_authority="311")))  # fmt: skip
        assert accepted.status_code == 201, accepted.text
    changes = [e for e in entries_of(live.services, "agency_areas_changed") if e["agency"] == agency_id]
    assert [(e["serves"], e["changed_by"]) for e in changes] == [(["311"], "Jo Admin (fictional)")]
    (registration,) = [e for e in entries_of(live.services, "agency_registered") if e["agency"] == agency_id]
    assert (registration["serves"], registration["registered_by"]) == (["309", "310"], "Jo Admin (fictional)")
