"""Administrators cannot act unseen (SPEC 6.4): every agency, key and areas act is a log entry naming
the administrator, and a key joins an existing agency only with the agency's own statement, signed
by one of its current keys, or by an override that the entry flags. On both backends, through the
use cases (as HTTP and the command line call them), over real HTTP and at the command line."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.cli import main
from api.tokens import Principal
from api.usecases.admin import COMMAND_LINE
from domain import envelope as dsse
from domain.errors import InvalidPayload, LedgerError, MalformedEnvelope, SignatureRejected
from domain.keystatements import KEY_STATEMENT_TYPE, sign_statement, statement_payload
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.log_entries import entries_of, log_entries, stored_count

AGENCY = "northshire-police"  # the ``registered`` fixture's
ADMIN = Principal(token_id="0123456789abcdef", role="admin", holder="Jo Admin (fictional)")


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def forged_statements(agency_key: Ed25519PrivateKey, new: Ed25519PrivateKey) -> dict[str, tuple[object, type, str]]:
    """Statements that must not let ``new`` join the police: what each is, and how it is refused."""
    stranger, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    good = sign_statement(AGENCY, new.public_key(), agency_key)
    tampered_payload = json.loads(statement_payload(AGENCY, new.public_key()))
    return {
        "signed by a stranger": (sign_statement(AGENCY, new.public_key(), stranger), SignatureRejected, "not signed by a current key"),
        "signed by the new key itself": (sign_statement(AGENCY, new.public_key(), new), SignatureRejected, "not signed by a current key"),
        "for another agency": (sign_statement("northshire-health", new.public_key(), agency_key), InvalidPayload, "another agency"),
        "for another key": (sign_statement(AGENCY, other.public_key(), agency_key), InvalidPayload, "another keyid"),
        "a record envelope": (dsse.sign(statement_payload(AGENCY, new.public_key()), agency_key), InvalidPayload, "payloadType must be"),
        "payload altered after signing": (
            {**good, "payload": b64(json.dumps({**tampered_payload, "agency": AGENCY}, indent=1).encode())},
            SignatureRejected, "not signed by a current key"),
        "an extra field": (dsse.sign(json.dumps({**tampered_payload, "note": "x"}).encode(), agency_key, KEY_STATEMENT_TYPE),
                           InvalidPayload, "exactly agency, keyid and public_key"),
        "not an envelope": ({"payloadType": KEY_STATEMENT_TYPE}, MalformedEnvelope, "envelope fields wrong"),
        "not JSON": (b"{statement", MalformedEnvelope, "not valid JSON"),
    }  # fmt: skip


# Through the use cases, on both backends -------------------------------------------------------


def test_a_key_without_a_statement_or_with_a_forged_one_is_refused_and_nothing_stored(services, registered, agency_key, subtests):
    new = Ed25519PrivateKey.generate()
    before = stored_count(services)
    with pytest.raises(SignatureRejected, match="only with a key statement signed by one of its current keys"):
        services.admin.add_key(ADMIN, AGENCY, pem(new))
    for name, (statement, error, words) in forged_statements(agency_key, new).items():
        with subtests.test(name):
            with pytest.raises(error, match=words):
                services.admin.add_key(ADMIN, AGENCY, pem(new), statement=statement)
    with pytest.raises(InvalidPayload, match="not both"):
        services.admin.add_key(ADMIN, AGENCY, pem(new), statement=sign_statement(AGENCY, new.public_key(), agency_key),
                               override="Fictional.")  # fmt: skip
    for reason in ("", "\x00", "x" * 1001):
        with pytest.raises(InvalidPayload, match="override reason"):
            services.admin.add_key(ADMIN, AGENCY, pem(new), override=reason)
    assert stored_count(services) == before
    assert [k["keyid"] for k in services.admin.agency(ADMIN, AGENCY)["keys"]] == [dsse.key_id(agency_key.public_key())]


def test_a_statement_signed_by_a_current_key_adds_the_key_and_travels_in_its_entry(services, registered, agency_key, signed):
    new = Ed25519PrivateKey.generate()
    statement = sign_statement(AGENCY, new.public_key(), agency_key)
    keyid = services.admin.add_key(ADMIN, AGENCY, pem(new), statement=json.dumps(statement, indent=2))
    assert keyid == dsse.key_id(new.public_key())
    entry = entries_of(services, "key_added")[-1]
    assert entry["statement"] == statement and entry["signed_by"] == dsse.key_id(agency_key.public_key())
    assert (entry["added_by"], entry["override"]) == ("Jo Admin (fictional)", None)
    assert services.admin.agency(ADMIN, AGENCY)["keys"][1] == {"keyid": keyid, "revoked": False, "override": False}
    assert isinstance(services.submit([signed(concern("ref-1"), key=new)])[0], dict)


def test_a_statement_signed_by_a_key_revoked_since_is_refused(services, registered, agency_key):
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    services.admin.add_key(ADMIN, AGENCY, pem(first), statement=sign_statement(AGENCY, first.public_key(), agency_key))
    late = sign_statement(AGENCY, second.public_key(), agency_key)
    services.admin.revoke_key(ADMIN, AGENCY, dsse.key_id(agency_key.public_key()), "Fictional: lost.")
    before = stored_count(services)
    with pytest.raises(SignatureRejected, match="not signed by a current key"):
        services.admin.add_key(ADMIN, AGENCY, pem(second), statement=late)
    assert stored_count(services) == before
    services.admin.add_key(ADMIN, AGENCY, pem(second), statement=sign_statement(AGENCY, second.public_key(), first))


def test_an_override_adds_the_key_flagged_with_its_reason_and_admin(services, registered):
    new = Ed25519PrivateKey.generate()
    keyid = services.admin.add_key(ADMIN, AGENCY, pem(new), override="Fictional: every key lost; head of force phoned")
    entry = entries_of(services, "key_added")[-1]
    assert (entry["keyid"], entry["override"], entry["added_by"]) == (
        keyid, "Fictional: every key lost; head of force phoned", "Jo Admin (fictional)")  # fmt: skip
    assert entry["statement"] is None and entry["signed_by"] is None
    assert services.admin.agency(ADMIN, AGENCY)["keys"][1]["override"] is True


def test_every_administrative_act_names_its_administrator(services, agency_key):
    new = Ed25519PrivateKey.generate()
    police = services.admin.register_agency(ADMIN, AGENCY, "police", "Police (fictional)", pem(agency_key), ["309"])
    services.admin.add_key(ADMIN, AGENCY, pem(new), statement=sign_statement(AGENCY, new.public_key(), agency_key))
    services.admin.revoke_key(ADMIN, AGENCY, police["keys"][0]["keyid"], "Fictional: rotated.")
    services.admin.change_areas(ADMIN, AGENCY, ["309", "310"])
    legacy = Principal(token_id="fedcba9876543210", role="admin")  # issued before tokens named holders
    services.admin.change_areas(legacy, AGENCY, ["309"])
    services.admin.add_key(COMMAND_LINE, AGENCY, pem(Ed25519PrivateKey.generate()), override="Fictional: test.")
    named = [(e["kind"], e.get("registered_by") or e.get("added_by") or e.get("revoked_by") or e.get("changed_by"))
             for e in log_entries(services)]  # fmt: skip
    admin = "Jo Admin (fictional)"
    assert named == [("agency_registered", admin), ("key_added", admin), ("key_added", admin), ("key_revoked", admin),
                     ("agency_areas_changed", admin), ("agency_areas_changed", "admin token fedcba9876543210"),
                     ("key_added", "cli")]  # fmt: skip


def test_only_an_admin_may_add_keys_or_change_areas(services, registered):
    practitioner = Principal(token_id="1" * 16, role="practitioner", local_authority="309", holder="Sam (fictional)")
    before = stored_count(services)
    with pytest.raises(LedgerError, match="may not"):
        services.admin.add_key(practitioner, AGENCY, pem(Ed25519PrivateKey.generate()), override="Fictional.")
    with pytest.raises(LedgerError, match="may not"):
        services.admin.register_agency(practitioner, "x-school", "school", "X", pem(Ed25519PrivateKey.generate()), ["309"])
    assert stored_count(services) == before


# Over HTTP ------------------------------------------------------------------------------------


def test_adding_a_key_over_http_needs_the_agencys_statement_or_an_override(live: Live):
    police = live.agency("police")
    current = live.keys[police]
    admin = live.token("admin", holder="Jo Admin (fictional)")
    path = f"/v1/admin/agencies/{police}/keys"
    with live.client(admin) as client:
        before = live.stored_events()
        new = Ed25519PrivateKey.generate()
        bare = client.post(path, json={"public_key": pem(new).decode()})
        assert bare.status_code == 422 and bare.json()["type"].endswith("/signature-rejected"), bare.text
        forged = client.post(path, json={"public_key": pem(new).decode(),
                                         "statement": sign_statement(police, new.public_key(), Ed25519PrivateKey.generate())})
        assert forged.status_code == 422 and "not signed by a current key" in forged.json()["detail"], forged.text
        elsewhere = client.post(path, json={"public_key": pem(new).decode(),
                                            "statement": sign_statement("another-agency", new.public_key(), current)})
        assert elsewhere.status_code == 422 and elsewhere.json()["type"].endswith("/invalid-payload")
        assert client.post(path, json={"public_key": pem(new).decode(), "statement": "text"}).status_code == 400
        assert live.stored_events() == before
        valid = client.post(path, json={"public_key": pem(new).decode(),
                                        "statement": sign_statement(police, new.public_key(), current)})
        assert valid.status_code == 201, valid.text
        assert valid.json()["keys"][1] == {"keyid": dsse.key_id(new.public_key()), "revoked": False, "override": False}
        flagged = Ed25519PrivateKey.generate()
        overridden = client.post(path, json={"public_key": pem(flagged).decode(), "override": "Fictional: keys lost."})
        assert overridden.status_code == 201 and overridden.json()["keys"][2]["override"] is True, overridden.text
    entries = [e for e in entries_of(live.services, "key_added") if e["agency"] == police]
    assert [(e["added_by"], e["override"], e["signed_by"]) for e in entries[1:]] == [
        ("Jo Admin (fictional)", None, dsse.key_id(current.public_key())),
        ("Jo Admin (fictional)", "Fictional: keys lost.", None),
    ]
    with live.client(live.token("agency", agency=police)) as client:
        record = concern("K-1", agency=police, subject={"nhs_number": fresh_nhs_number()})
        assert client.post("/v1/records", json=live.envelope(record, flagged)).status_code == 201


# At the command line, and what verify reports -------------------------------------------------


def cli(*args: object) -> int:
    return main([str(a) for a in args])


def write_key(path, key: Ed25519PrivateKey) -> str:
    from api.keyfiles import write_private_key, write_public_key

    write_private_key(path.with_suffix(".key"), key)
    write_public_key(path.with_suffix(".pub"), key)
    return str(path)


def test_the_command_line_rotates_with_a_statement_and_verify_reports_overrides(services, tmp_path, capsys):
    db = ["--database-url", services.settings.database_url, "--checkpoint-key", services.settings.checkpoint_key]
    first, second, third = (write_key(tmp_path / name, Ed25519PrivateKey.generate()) for name in ("a", "b", "c"))
    assert cli("agency", "add", AGENCY, "--kind", "police", "--name", "Police (fictional)", "--public-key",
               first + ".pub", "--serves", "309, 310", *db) == 0  # fmt: skip
    assert "serving 309, 310" in capsys.readouterr().out
    assert cli("agency", "add-key", AGENCY, "--public-key", second + ".pub", *db) == 2
    assert "only with a key statement" in capsys.readouterr().err
    stranger = write_key(tmp_path / "stranger", Ed25519PrivateKey.generate())
    assert cli("agency", "add-key", AGENCY, "--public-key", second + ".pub", "--signed-by", stranger + ".key", *db) == 2
    assert "not signed by a current key" in capsys.readouterr().err
    assert cli("agency", "key-statement", AGENCY, "--public-key", second + ".pub", "--key", first + ".key") == 0
    (tmp_path / "statement.json").write_text(capsys.readouterr().out)
    assert cli("agency", "add-key", AGENCY, "--public-key", second + ".pub", "--statement", tmp_path / "statement.json", *db) == 0
    assert cli("agency", "add-key", AGENCY, "--public-key", third + ".pub", "--override", "Fictional: keys lost.", *db) == 0
    assert "by override (flagged in the log)" in capsys.readouterr().out
    assert cli("agency", "serves", AGENCY, "--serves", "309", *db) == 0
    assert capsys.readouterr().out.strip() == f"agency {AGENCY} now serves 309"

    keys = {name: dsse.load_private_key_pem((tmp_path / f"{name}.key").read_bytes()) for name in ("b", "c")}
    results = services.submit([dsse.sign(json.dumps(concern(f"ref-{i}")).encode(), keys["c" if i != 1 else "b"])
                               for i in range(4)])  # fmt: skip
    leaves = [r["leaf_index"] for r in results]
    assert leaves == [5, 6, 7, 8]  # registered, key, key (statement), key (override), areas; then records
    third_id = dsse.key_id(keys["c"].public_key())
    capsys.readouterr()
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db) == 0
    capsys.readouterr()
    for where in ([out], db):
        assert cli("verify", *where, "--processes", "0") == 0
        report = capsys.readouterr().out.splitlines()
        assert report[0].startswith("verified 10 entries")  # 9, and the export's own access entry
        assert report[1:] == [f'flagged: key {third_id} of agency {AGENCY}, added at leaf 3 by override '
                              f'(by "cli": "Fictional: keys lost."); signed records at leaves 5, 7-8']  # fmt: skip
    history = [json.loads(line) for line in (out / "keys.jsonl").read_text().splitlines()]
    assert [(h["kind"], h.get("by"), h.get("serves")) for h in history] == [
        ("agency_registered", "cli", ["309", "310"]), ("key_added", "cli", None), ("key_added", "cli", None),
        ("key_added", "cli", None), ("agency_areas_changed", "cli", ["309"])]  # fmt: skip
    assert history[2]["signed_by"] == dsse.key_id(dsse.load_private_key_pem((tmp_path / "a.key").read_bytes()).public_key())
    assert history[3]["override"] == "Fictional: keys lost."
