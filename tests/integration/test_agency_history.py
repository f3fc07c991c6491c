"""The offline verifier replays the agencies' history (domain/agency_history.py): on hand-made logs,
a key added after an agency's first needs the agency's statement by a key it held then, or an
override, which the result reports with every record the key signed; a record must name a council
its agency served at that point; malformed agency entries fail at their index and never crash."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from domain import envelope as dsse
from domain.agencies import agency_aggregate_id
from domain.audit import AuditResult, Auditor, audit_chunk
from domain.errors import IntegrityFailure
from domain.keystatements import sign_statement
from tests.conftest import concern
from tests.e2e.test_export_verify import VERIFIER, entry, record_entry, revoke_entry

FIRST, SECOND, THIRD = (Ed25519PrivateKey.generate() for _ in range(3))
ADMIN = "Jo Admin (fictional)"


def registered(agency: str = "police", serves: list[str] | None = None) -> bytes:
    fields = {} if serves is None else {"serves": serves, "registered_by": ADMIN}
    return entry("agency_registered", agency_aggregate_id(agency), agency=agency, agency_kind="police",
                 name="fictional", **fields)  # fmt: skip


def key_added(agency: str, key: Ed25519PrivateKey, *, version: int = 2, statement: dict | None = None,
              signed_by: Ed25519PrivateKey | None = None, override: str | None = None) -> bytes:  # fmt: skip
    raw = key.public_key().public_bytes_raw()
    fields: dict = {"agency": agency, "keyid": hashlib.sha256(raw).hexdigest(), "public_key": base64.b64encode(raw).decode()}
    if version == 2:
        fields.update(added_by=ADMIN, statement=statement, override=override,
                      signed_by=None if signed_by is None else dsse.key_id(signed_by.public_key()))  # fmt: skip
    return entry("key_added", agency_aggregate_id(agency), **fields)


def vouched(agency: str, key: Ed25519PrivateKey, by: Ed25519PrivateKey) -> bytes:
    return key_added(agency, key, statement=sign_statement(agency, key.public_key(), by), signed_by=by)


def areas(agency: str, serves: list[str]) -> bytes:
    return entry("agency_areas_changed", agency_aggregate_id(agency), agency=agency, serves=serves, changed_by=ADMIN)


def record(record_id: str, key: Ed25519PrivateKey, council: str | None = "309", agency: str = "police") -> bytes:
    payload = json.dumps(concern(record_id, agency=agency, local_authority=council)).encode()
    return record_entry(agency, record_id, key, payload)


def audit(entries: list[bytes]) -> AuditResult:
    keys = {}
    for e in entries:
        data = json.loads(e)
        if data["kind"] == "key_added":
            keys[data["keyid"]] = base64.b64decode(data["public_key"])
    auditor = Auditor(VERIFIER, [])
    for start in range(0, len(entries), 3):
        auditor.add(audit_chunk(start, [(e, None) for e in entries[start : start + 3]], keys))
    return auditor.finish()


def failure(entries: list[bytes]) -> tuple[int, str]:
    with pytest.raises(IntegrityFailure) as caught:
        audit(entries)
    return caught.value.leaf_index, caught.value.reason


def honest() -> list[bytes]:
    return [registered(serves=["309"]), key_added("police", FIRST), record("a", FIRST), vouched("police", SECOND, FIRST),
            revoke_entry("police", FIRST), record("b", SECOND), areas("police", ["310"]), record("c", SECOND, "310")]  # fmt: skip


def test_an_honest_history_verifies_and_flags_nothing():
    result = audit(honest())
    assert result.size == 8 and result.flagged_keys == ()


def test_a_second_key_without_statement_or_override_fails():
    log = [registered(serves=["309"]), key_added("police", FIRST), key_added("police", SECOND)]
    assert failure(log) == (2, f"key {dsse.key_id(SECOND.public_key())} is added to agency police without its statement or an override")


def test_a_statement_by_a_key_that_was_not_the_agencys_current_one_fails():
    base = [registered(serves=["309"]), key_added("police", FIRST), registered("health", ["309"]),
            key_added("health", THIRD)]  # fmt: skip
    by_other_agency = key_added("police", SECOND, statement=sign_statement("police", SECOND.public_key(), THIRD), signed_by=THIRD)
    assert "not a current key of agency police" in failure([*base, by_other_agency])[1]
    after_revocation = [*base, revoke_entry("police", FIRST), vouched("police", SECOND, FIRST)]
    assert failure(after_revocation)[0] == 5 and "not a current key" in failure(after_revocation)[1]


def test_a_statement_that_does_not_verify_or_names_another_key_fails():
    base = [registered(serves=["309"]), key_added("police", FIRST)]
    forged = sign_statement("police", SECOND.public_key(), THIRD)  # signed by another key than it names
    index, reason = failure([*base, key_added("police", SECOND, statement=forged, signed_by=FIRST)])
    assert index == 2 and "verifies over the key statement" in reason
    other = sign_statement("police", THIRD.public_key(), FIRST)
    assert "does not name this agency and key" in failure([*base, key_added("police", SECOND, statement=other, signed_by=FIRST)])[1]
    no_signer = key_added("police", SECOND, statement=sign_statement("police", SECOND.public_key(), FIRST))
    assert "names no signer" in failure([*base, no_signer])[1]


def test_a_record_for_a_council_its_agency_did_not_serve_then_fails():
    log = honest() + [record("d", SECOND, "309")]
    assert failure(log) == (8, "the record names council 309, which agency police did not serve here")
    assert audit(honest() + [record("e", SECOND, None)]).size == 9


def test_an_agency_of_version_1_has_no_recorded_areas_until_they_are_set():
    log = [registered(), key_added("police", FIRST, version=1), record("a", FIRST, "999"), areas("police", ["309"])]
    assert audit(log).size == 4
    assert failure([*log, record("b", FIRST, "999")])[0] == 4


def test_override_keys_and_version_1_rotations_are_reported_with_the_records_they_signed():
    log = [registered(), key_added("police", FIRST, version=1), key_added("police", SECOND, version=1),
           record("a", SECOND), record("b", FIRST), areas("police", ["309"]),
           key_added("police", THIRD, override="Fictional: keys lost."), record("c", THIRD), record("d", SECOND),
           record("e", THIRD)]  # fmt: skip
    flagged = audit(log).flagged_keys
    assert [(k.index, k.keyid, k.by, k.override, k.records) for k in flagged] == [
        (2, dsse.key_id(SECOND.public_key()), None, None, [3, 8]),
        (6, dsse.key_id(THIRD.public_key()), ADMIN, "Fictional: keys lost.", [7, 9]),
    ]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["agency_registered", "key_added", "key_revoked", "agency_areas_changed"]),
    fields=st.dictionaries(st.sampled_from(["serves", "registered_by", "added_by", "changed_by", "revoked_by",
                                            "statement", "signed_by", "override"]), json_values),
)  # fmt: skip
def test_malformed_agency_entries_fail_at_their_index_and_never_crash(kind, fields):
    log = honest()
    base = json.loads(vouched("police", THIRD, SECOND) if kind == "key_added" else revoke_entry("police", SECOND)
                      if kind == "key_revoked" else registered("health", ["309"]) if kind == "agency_registered"
                      else areas("police", ["309"]))  # fmt: skip
    base.pop("kind")
    log.append(entry(kind, base.pop("originator"), **{k: v for k, v in base.items() if k not in ("v", "at")} | fields))
    try:
        audit(log)
    except IntegrityFailure as caught:
        assert caught.leaf_index == len(log) - 1
