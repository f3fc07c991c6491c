"""The write side on both backends: what is appended, what is refused (and then nothing is stored),
idempotent repeats, conflicts, key rotation and revocation, and batches judged envelope by envelope."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings as hypothesis_settings, strategies as st

from domain import envelope as dsse
from domain.errors import (
    AlreadyExists,
    InvalidPayload,
    LedgerError,
    MalformedEnvelope,
    NotFound,
    RecordConflict,
    SignatureRejected,
    WrongAgency,
)
from domain.keystatements import sign_statement
from domain.ledger import Accepted
from domain.records import Record, record_aggregate_id
from projections.database_url import DatabaseUrlError
from projections.eventstore import open_ledger
from tests.conftest import concern

AGENCY = "northshire-police"
ADMIN = "Jo Admin (fictional)"


def register_health(services, key) -> None:
    services.ledger.register_agency("northshire-health", "health", "Northshire Health (fictional)", key.public_key(),
                                    serves=["309"], by=ADMIN)  # fmt: skip


def rotate(services, new_key, current_key) -> str:
    """Add ``new_key`` to the police with their statement signed by ``current_key``."""
    statement = sign_statement(AGENCY, new_key.public_key(), current_key)
    return services.ledger.add_key(AGENCY, new_key.public_key(), by=ADMIN, statement=statement)


def stored_count(services) -> int:
    """How many events the log holds: every stored event is one notification. (Not the highest
    notification id: on PostgreSQL a refused insert still uses up sequence numbers.)"""
    return len(services.ledger.recorder.select_notifications(start=None, limit=1_000_000))


def submit_one(services, envelope, acting_agency=None):
    (result,) = services.submit([envelope], acting_agency)
    return result


def refused(services, envelope, error: type[LedgerError], words: str, acting_agency=None) -> None:
    """Submit one envelope, expect the refusal, and check that nothing at all was stored."""
    before = stored_count(services)
    result = submit_one(services, envelope, acting_agency)
    assert isinstance(result, error), result
    assert words in str(result)
    assert stored_count(services) == before


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Accepted ---------------------------------------------------------------------------------------


def test_a_signed_record_is_appended_with_its_envelope_verbatim(services, registered, signed, agency_key):
    envelope = signed(concern())
    receipt = submit_one(services, json.dumps(envelope, indent=2).encode())
    assert receipt["agency"] == AGENCY and receipt["record_id"] == "ref-1" and receipt["leaf_index"] == 2
    assert len(base64.b64decode(receipt["leaf_hash"])) == 32 and receipt["recorded_at"].endswith("Z")
    record = services.ledger.repository.get(record_aggregate_id(AGENCY, "ref-1"))
    assert isinstance(record, Record)
    assert (record.payload_type, record.payload, record.signatures) == (
        envelope["payloadType"],
        envelope["payload"],
        envelope["signatures"],
    )
    assert record.keyid == dsse.key_id(agency_key.public_key())
    assert stored_count(services) == 3  # registered, key added, record


def test_ledger_submit_answers_plain_values(services, registered, signed):
    accepted = services.ledger.submit(signed(concern()))
    assert isinstance(accepted, Accepted) and not accepted.duplicate
    assert accepted.aggregate_id == record_aggregate_id(AGENCY, "ref-1")
    again = services.ledger.submit(signed(concern()))
    assert again.duplicate and again.recorded_at == accepted.recorded_at
    with pytest.raises(RecordConflict):
        services.ledger.submit(signed(concern(summary="Fictional: other words.")))


# Refusals: each stores nothing ------------------------------------------------------------------


def _envelope(agency_key, **changes) -> dict:
    envelope = dsse.sign(json.dumps(concern()).encode(), agency_key)
    envelope.update(changes)
    return envelope


MALFORMED = [
    (lambda key: b"{not json", MalformedEnvelope, "not valid JSON"),
    (lambda key: b"\xff\xfe", MalformedEnvelope, "not valid JSON"),
    (lambda key: b"[]", MalformedEnvelope, "JSON object"),
    (lambda key: {k: v for k, v in _envelope(key).items() if k != "payload"}, MalformedEnvelope, "missing ['payload']"),
    (lambda key: _envelope(key, note="hi"), MalformedEnvelope, "unexpected ['note']"),
    (lambda key: _envelope(key, payload="not base64!"), MalformedEnvelope, "payload is not standard base64"),
    (lambda key: _envelope(key, payload="eyJ9"[:3]), MalformedEnvelope, "payload is not standard base64"),
    (lambda key: _envelope(key, signatures=[]), MalformedEnvelope, "non-empty list"),
    (lambda key: _envelope(key, signatures=[{"keyid": "k", "sig": "AA==", "x": 1}]), MalformedEnvelope, "may have keyid, and nothing else"),
    (lambda key: _envelope(key, payloadType="application/json"), InvalidPayload, "payloadType must be"),
]  # fmt: skip


def test_malformed_envelopes_store_nothing(services, registered, agency_key, subtests):
    for make, error, words in MALFORMED:
        with subtests.test(words):
            refused(services, make(agency_key), error, words)


def test_a_non_canonical_base64_payload_is_refused(services, registered, signed):
    """``QR==`` decodes like ``QQ==``: accepting it would let a changed envelope carry the same signature."""
    payload = next(p for n in range(3) if len(p := json.dumps(concern(summary="Fictional." + "!" * n)).encode()) % 3 == 1)
    envelope = signed(payload)
    text = envelope["payload"]
    assert text.endswith("==")  # the last character before the padding has four unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = text[:-3] + alphabet[alphabet.index(text[-3]) + 1] + "=="
    assert twin != text and base64.b64decode(twin) == base64.b64decode(text)
    refused(services, {**envelope, "payload": twin}, MalformedEnvelope, "non-canonical")


B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
MUTATION_KEY = Ed25519PrivateKey.generate()
MUTATION_KEYS = {dsse.key_id(MUTATION_KEY.public_key()): MUTATION_KEY.public_key()}


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["payload", "sig"]),
    position=st.integers(0, 10_000),
    character=st.sampled_from(B64_ALPHABET) | st.characters(codec="utf-8"),
    payload=st.binary(min_size=1, max_size=64),
)
def test_any_changed_character_of_the_base64_strings_is_refused(field, position, character, payload):
    """Not only a changed byte: a changed character of the text, however it decodes, is refused
    (base64 has several spellings of the same bytes; only the canonical one is accepted)."""
    envelope = dsse.sign(payload, MUTATION_KEY)
    text = envelope["payload"] if field == "payload" else envelope["signatures"][0]["sig"]
    index = position % len(text)
    assume(text[index] != character)
    mutated = text[:index] + character + text[index + 1 :]
    if field == "payload":
        envelope["payload"] = mutated
    else:
        envelope["signatures"][0]["sig"] = mutated
    with pytest.raises((MalformedEnvelope, SignatureRejected)):
        dsse.verify(dsse.parse_envelope(json.dumps(envelope)), MUTATION_KEYS)


def test_an_unknown_agency_is_refused(services, registered, signed):
    refused(services, signed(concern(agency="nowhere-police")), SignatureRejected, "agency nowhere-police is not registered")


def test_a_key_not_registered_to_the_agency_is_refused(services, registered, signed):
    stranger = Ed25519PrivateKey.generate()
    refused(services, signed(concern(), key=stranger), SignatureRejected, "no signature verifies with a current key")


def test_a_key_of_another_agency_cannot_sign_for_this_one(services, registered, signed):
    health_key = Ed25519PrivateKey.generate()
    register_health(services, health_key)
    refused(services, signed(concern(), key=health_key), SignatureRejected, "no signature verifies with a current key")


def test_a_signature_that_does_not_verify_is_refused(services, registered, agency_key):
    envelope = dsse.sign(json.dumps(concern()).encode(), agency_key)
    envelope["payload"] = b64(json.dumps(concern(summary="Fictional: altered after signing.")).encode())
    refused(services, envelope, SignatureRejected, "its signature does not verify")


INVALID_FIELDS = [
    ({"record_id": ""}, "record_id"),
    ({"type": "gossip"}, "type must be one of"),
    ({"subject": {"nhs_number": "9434765918"}}, "Modulus 11"),
    ({"subject": {"upn": "A801200005001"}}, "upn has an invalid check letter"),
    ({"subject": {"given_name": "Ada"}}, "at least one of"),
    ({"occurred_at": "last Tuesday"}, "occurred_at"),
    ({"category": "bruise"}, "category"),
    ({"summary": ""}, "summary"),
    ({"action_taken": ""}, "action_taken"),
    ({"author": {"rank": "PC"}}, "author"),
    ({"local_authority": "3090"}, "local_authority"),
    ({"same_child": [{"local_id": "a"}, {"local_id": "b"}]}, "may not have same_child"),
    ({"colour": "blue"}, "unknown fields: colour"),
    ({"summary": None, "action_taken": "x"}, "a concern needs summary"),
]


def test_an_invalid_payload_field_is_refused(services, registered, signed, subtests):
    for changes, words in INVALID_FIELDS:
        with subtests.test(words):
            refused(services, signed(concern(**changes)), InvalidPayload, words)


def test_a_payload_with_a_null_or_repeated_field_is_refused(services, registered, signed):
    refused(services, signed(json.dumps({**concern(), "action_taken": None}).encode()), InvalidPayload, "must not be null")
    raw = json.dumps(concern())[:-1] + ', "summary": "Fictional: a second summary."}'
    refused(services, signed(raw.encode()), InvalidPayload, "repeated name")


def test_an_amendment_naming_no_record_is_refused(services, registered, signed):
    amendment = concern("ref-2", type="amendment", amends="ref-404")
    refused(services, signed(amendment), InvalidPayload, "amends names no earlier record 'ref-404'")
    refused(services, signed(concern("ref-2", type="amendment", amends="ref-2")), InvalidPayload, "no earlier record")


def test_an_amendment_may_not_name_another_agencys_record(services, registered, signed):
    health_key = Ed25519PrivateKey.generate()
    register_health(services, health_key)
    assert isinstance(submit_one(services, signed(concern("h-1", agency="northshire-health"), key=health_key)), dict)
    refused(services, signed(concern("ref-2", type="amendment", amends="h-1")), InvalidPayload, "no earlier record")


def test_an_amendment_and_a_retraction_of_a_stored_record_are_accepted(services, registered, signed):
    submit_one(services, signed(concern()))
    amendment = concern("ref-2", type="amendment", amends="ref-1", summary="Fictional: corrected time.")
    assert isinstance(submit_one(services, signed(amendment)), dict)
    retraction = {"agency": AGENCY, "record_id": "ref-3", "type": "retraction", "amends": "ref-2", "summary": "wrong child"}
    assert isinstance(submit_one(services, signed(retraction)), dict)


def test_a_token_for_another_agency_is_refused(services, registered, signed):
    refused(services, signed(concern()), WrongAgency, "submits for agency northshire-health", acting_agency="northshire-health")
    assert isinstance(submit_one(services, signed(concern()), acting_agency=AGENCY), dict)


def test_other_bytes_under_the_same_record_id_are_a_conflict(services, registered, signed):
    original = submit_one(services, signed(concern()))
    refused(services, signed(concern(summary="Fictional: a different account.")), RecordConflict, "'ref-1'")
    assert submit_one(services, signed(concern())) == original


# Idempotence ------------------------------------------------------------------------------------


def test_the_same_record_again_returns_the_original_receipt(services, registered, signed, agency_key):
    envelope = signed(concern())
    original = submit_one(services, envelope)
    count = stored_count(services)
    assert submit_one(services, envelope) == original
    assert submit_one(services, json.dumps(envelope, indent=4, sort_keys=True)) == original  # framing is not significant
    second_key = Ed25519PrivateKey.generate()
    rotate(services, second_key, agency_key)
    assert submit_one(services, signed(concern(), key=second_key)) == original  # re-signed, same payload
    assert stored_count(services) == count + 1  # only the key


# Keys -------------------------------------------------------------------------------------------


def test_revocation_keeps_earlier_records_and_refuses_later_ones(services, registered, signed, agency_key):
    keyid = dsse.key_id(agency_key.public_key())
    before = submit_one(services, signed(concern("ref-1")))
    replacement = Ed25519PrivateKey.generate()
    rotate(services, replacement, agency_key)
    services.ledger.revoke_key(AGENCY, keyid, "laptop lost (fictional)", by=ADMIN)

    refused(services, signed(concern("ref-2")), SignatureRejected, f"key {keyid} of agency {AGENCY} is revoked")
    refused(services, signed(concern("ref-1")), SignatureRejected, "revoked")
    # What the key signed before its revocation stays in the log, with its original receipt.
    record = services.ledger.repository.get(record_aggregate_id(AGENCY, "ref-1"))
    assert record.keyid == keyid
    assert submit_one(services, signed(concern("ref-1"), key=replacement)) == before
    assert isinstance(submit_one(services, signed(concern("ref-2"), key=replacement)), dict)
    info = services.ledger.agency(AGENCY)
    assert [(k.keyid, k.revoked) for k in info.keys] == [(keyid, True), (dsse.key_id(replacement.public_key()), False)]


def test_a_key_revoked_while_a_batch_is_judged_is_honoured_at_the_append(
    services, registered, signed, agency_key, database_url, monkeypatch
):
    """Another process revokes the key after this one read the agency's keys but before it appends:
    the append notices, stores nothing, and the batch is judged again against the log as it is."""
    keyid = dsse.key_id(agency_key.public_key())
    read_keys = services.ledger._signing_keys
    other_process = open_ledger(database_url)
    other_process.sign_entries_with(services.signer.private_key)  # as bootstrap gives every process

    def read_then_revoke(agency_id):
        keys = read_keys(agency_id)
        if not other_process.agency(AGENCY).keys[0].revoked:
            other_process.revoke_key(AGENCY, keyid, "revoked meanwhile (fictional)", by=ADMIN)
        return keys

    monkeypatch.setattr(services.ledger, "_signing_keys", read_then_revoke)
    try:
        before = stored_count(services)
        (result,) = services.submit([signed(concern())])
    finally:
        other_process.close()
    assert isinstance(result, SignatureRejected) and "revoked" in str(result)
    assert stored_count(services) == before + 1  # the revocation only


def test_an_envelope_with_a_revoked_and_a_valid_signature_is_accepted(services, registered, agency_key):
    replacement = Ed25519PrivateKey.generate()
    rotate(services, replacement, agency_key)
    services.ledger.revoke_key(AGENCY, dsse.key_id(agency_key.public_key()), "rotated (fictional)", by=ADMIN)
    payload = json.dumps(concern()).encode()
    old, new = dsse.sign(payload, agency_key), dsse.sign(payload, replacement)
    envelope = {**new, "signatures": old["signatures"] + new["signatures"]}
    assert isinstance(submit_one(services, envelope), dict)
    stored = services.ledger.repository.get(record_aggregate_id(AGENCY, "ref-1"))
    assert stored.keyid == dsse.key_id(replacement.public_key())


def test_agency_and_key_administration_refuses_what_makes_no_sense(services, registered, agency_key):
    ledger, key = services.ledger, agency_key.public_key()
    keyid = dsse.key_id(key)
    before = stored_count(services)
    with pytest.raises(AlreadyExists, match="already registered"):
        ledger.register_agency(AGENCY, "police", "Again", Ed25519PrivateKey.generate().public_key(), serves=["309"], by=ADMIN)
    with pytest.raises(AlreadyExists, match="already registered"):
        ledger.add_key(AGENCY, key, by=ADMIN, override="Fictional.")
    with pytest.raises(NotFound, match="not registered"):
        ledger.add_key("nowhere", key, by=ADMIN, override="Fictional.")
    with pytest.raises(NotFound, match="has no key"):
        ledger.revoke_key(AGENCY, "00" * 32, "no such key", by=ADMIN)
    with pytest.raises(InvalidPayload, match="reason"):
        ledger.revoke_key(AGENCY, keyid, "", by=ADMIN)
    with pytest.raises(InvalidPayload, match="agency id"):
        ledger.register_agency("Northshire Police", "police", "N", key, serves=["309"], by=ADMIN)
    with pytest.raises(InvalidPayload, match="agency kind"):
        ledger.register_agency("northshire-zoo", "zoo", "N", key, serves=["309"], by=ADMIN)
    with pytest.raises(InvalidPayload, match="agency name"):
        ledger.register_agency("northshire-zoo", "other", "", key, serves=["309"], by=ADMIN)
    with pytest.raises(NotFound):
        ledger.agency("nowhere")
    assert stored_count(services) == before
    ledger.revoke_key(AGENCY, keyid, "compromised (fictional)", by=ADMIN)
    with pytest.raises(AlreadyExists, match="already revoked"):
        ledger.revoke_key(AGENCY, keyid, "again", by=ADMIN)
    with pytest.raises(AlreadyExists):  # a revoked key is never registered again
        ledger.add_key(AGENCY, key, by=ADMIN, override="Fictional.")


def test_a_key_change_made_on_a_stale_agency_is_retried(services, registered, monkeypatch):
    """Two administrators (two processes) change keys at once: the second starts again from the log."""
    ledger = services.ledger
    stale = ledger._agency(AGENCY)
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    ledger.add_key(AGENCY, first.public_key(), by=ADMIN, override="Fictional: first.")
    fresh_agency = ledger._agency
    calls = iter([stale])
    monkeypatch.setattr(ledger, "_agency", lambda agency_id: next(calls, None) or fresh_agency(agency_id))
    ledger.add_key(AGENCY, second.public_key(), by=ADMIN, override="Fictional: second.")
    assert len(ledger.agency(AGENCY).keys) == 3


# Batches ----------------------------------------------------------------------------------------


def test_one_bad_envelope_does_not_stop_the_others(services, registered, signed):
    batch = [signed(concern("ref-1")), b"not json", signed(concern("ref-2", summary="")), signed(concern("ref-3"))]
    results = services.submit(batch)
    assert [type(r).__name__ for r in results] == ["dict", "MalformedEnvelope", "InvalidPayload", "dict"]
    assert [r["record_id"] for r in (results[0], results[3])] == ["ref-1", "ref-3"]
    assert results[3]["leaf_index"] == results[0]["leaf_index"] + 1
    assert stored_count(services) == 4


def test_a_record_repeated_in_a_batch_is_stored_once(services, registered, signed):
    envelope = signed(concern("ref-1"))
    first, repeat, other = services.submit([envelope, json.dumps(envelope), signed(concern("ref-2"))])
    assert first == repeat and other["leaf_index"] == first["leaf_index"] + 1
    assert stored_count(services) == 4


def test_different_content_under_one_record_id_in_a_batch_is_a_conflict(services, registered, signed):
    first, clash = services.submit([signed(concern("ref-1")), signed(concern("ref-1", category="other"))])
    assert isinstance(first, dict) and isinstance(clash, RecordConflict)
    assert stored_count(services) == 3


def test_a_repeat_in_a_batch_is_settled_against_what_the_ledger_holds(services, registered, signed):
    """Stored: B. Batch: [B', B]. B' conflicts; B is the stored record again, so its original receipt."""
    original = submit_one(services, signed(concern("ref-1")))
    clash, repeat = services.submit([signed(concern("ref-1", category="other")), signed(concern("ref-1"))])
    assert isinstance(clash, RecordConflict)
    assert repeat == original
    assert stored_count(services) == 3


def test_a_batch_of_repeats_and_new_records_stores_only_the_new(services, registered, signed):
    originals = services.submit([signed(concern(f"ref-{i}")) for i in range(5)])
    mixed = services.submit([signed(concern(f"ref-{i}")) for i in range(10)])
    assert mixed[:5] == originals
    last = originals[-1]["leaf_index"]
    assert [r["leaf_index"] for r in mixed[5:]] == list(range(last + 1, last + 6))
    assert stored_count(services) == 2 + 10


def test_an_amendment_may_name_an_earlier_record_of_the_same_batch_only(services, registered, signed):
    amendment = signed(concern("ref-2", type="amendment", amends="ref-1", summary="Fictional: corrected."))
    early, original, late = services.submit([amendment, signed(concern("ref-1")), amendment])
    assert isinstance(early, InvalidPayload) and "no earlier record" in str(early)
    assert isinstance(original, dict) and isinstance(late, dict)
    assert late["leaf_index"] == original["leaf_index"] + 1


def test_an_empty_batch_stores_nothing(services, registered):
    before = stored_count(services)
    assert services.submit([]) == []
    assert stored_count(services) == before


# Storage ----------------------------------------------------------------------------------------


def test_the_ledger_ignores_ambient_eventsourcing_variables(database_url, monkeypatch, tmp_path):
    """Only the URL chooses where and how events are stored."""
    monkeypatch.setenv("LEDGER_SQLITE_DBNAME", str(tmp_path / "elsewhere.db"))
    monkeypatch.setenv("LEDGER_PERSISTENCE_MODULE", "eventsourcing.popo")
    monkeypatch.setenv("COMPRESSOR_TOPIC", "eventsourcing.compressor:ZlibCompressor")
    ledger = open_ledger(database_url)
    ledger.sign_entries_with(Ed25519PrivateKey.generate())
    try:
        ledger.register_agency(AGENCY, "police", "N", Ed25519PrivateKey.generate().public_key(), serves=["309"], by=ADMIN)
        assert type(ledger.recorder).__module__ != "eventsourcing.popo"
        assert ledger.mapper.compressor is None
    finally:
        ledger.close()
    assert not (tmp_path / "elsewhere.db").exists()
    reopened = open_ledger(database_url)
    try:
        assert reopened.agency(AGENCY).agency_id == AGENCY
    finally:
        reopened.close()


@pytest.mark.parametrize("url", ["mysql://db/ledger", "sqlite://", "sqlite:///", "ledger.db"])
def test_an_unsupported_database_url_is_refused(url):
    with pytest.raises(DatabaseUrlError):
        open_ledger(url)
