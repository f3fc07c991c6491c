"""SPEC 6.6 against a real ledger on both backends: text no entry may hold, JSON nested too deeply and
times outside UTC are refused with the right error, and then nothing at all is stored: the log and
the Merkle tree keep their size."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain import envelope as dsse
from domain.access import log_access
from domain.decisions import record_decision
from domain.errors import InvalidPayload, LedgerError, MalformedEnvelope, MalformedRequest, NotFound
from domain.links import link_identities, unlink_identities
from domain.records import record_aggregate_id
from projections import integrity
from tests.conftest import concern

CHILD = "1b4e28ba-2fa1-51d2-883f-0016d3cca427"


def sizes(services) -> tuple[int, int]:
    """(events in the log, leaves in the Merkle tree) once the read models have caught up."""
    services.runner.catch_up()
    events = len(services.ledger.recorder.select_notifications(start=None, limit=1_000_000))
    with services.reader.connect() as conn:
        return events, integrity.tree_size(conn)


def refuses_and_stores_nothing(services, act, error: type[LedgerError], *words: str) -> None:
    before = sizes(services)
    with pytest.raises(error) as refusal:
        act()
    assert all(word in str(refusal.value) for word in words), str(refusal.value)
    assert sizes(services) == before


def test_records_with_text_no_entry_may_hold_are_refused_and_nothing_is_stored(services, registered, signed, agency_key):
    bad = [
        (signed(concern(summary="Fictional\x00")), InvalidPayload, ["summary", "a NUL character"]),
        (signed(concern(summary="\ud800")), InvalidPayload, ["summary holds a lone surrogate"]),  # sent as \ud800
        (signed(concern(record_id="ref\x001")), InvalidPayload, ["record_id must be printable"]),
        (signed(concern(subject={"nhs_number": "9434765919", "aliases": ["Ada\udc80"]})), InvalidPayload, ["aliases"]),
        (signed(concern(local_authority="\u0663\u0660\u0669")), InvalidPayload, ["local_authority"]),
        (signed(concern(occurred_at="9999-12-31T23:59:59-23:59")), InvalidPayload, ["occurred_at is outside"]),
        (signed(b"[" * 100_000), MalformedRequest, ["the payload is nested too deeply"]),
        (b"[" * 100_000, MalformedEnvelope, ["the envelope is nested too deeply"]),
        (b'{"payloadType": "\\ud800", "payload": "", "signatures": []}', MalformedEnvelope, ["payloadType holds a lone"]),
    ]
    second = signed(concern())
    second["signatures"].append({"keyid": "k\x00", "sig": second["signatures"][0]["sig"]})
    bad.append((second, MalformedEnvelope, ["keyid must be printable", "a NUL character"]))
    before = sizes(services)
    for envelope, error, words in bad:
        (result,) = services.submit([envelope])
        assert isinstance(result, error), result
        assert all(word in str(result) for word in words), str(result)
        assert sizes(services) == before


def test_in_a_batch_only_the_clean_record_is_stored(services, registered, signed):
    events, leaves = sizes(services)
    results = services.submit([signed(concern("ref-1", summary="\x07")), signed(concern("ref-2"))])
    assert isinstance(results[0], InvalidPayload) and results[1]["record_id"] == "ref-2"
    assert sizes(services) == (events + 1, leaves + 1)
    assert record_aggregate_id(registered, "ref-1") not in services.ledger.repository
    stored = services.ledger.repository.get(record_aggregate_id(registered, "ref-2"))
    assert json.loads(base64.b64decode(stored.payload)) == concern("ref-2")


def test_decisions_and_links_with_bad_text_store_nothing(services, registered):
    ledger = services.ledger
    decide = dict(prompt_id="p", child_id=CHILD, rule="r", rule_version=1, records=[], decision="escalated")
    refuses_and_stores_nothing(services, lambda: record_decision(ledger, **decide, reason="Seen\x00", by="x"),
                               InvalidPayload, "reason must hold no control")  # fmt: skip
    refuses_and_stores_nothing(services, lambda: record_decision(ledger, **decide, reason="ok", by="x\ud800"),
                               InvalidPayload, "by must be printable", "lone surrogate")  # fmt: skip
    pair = [{"nhs_number": "9434765919"}, {"upn": "B801200005001"}]
    refuses_and_stores_nothing(services, lambda: link_identities(ledger, pair, by="x", reason="\x00"),
                               InvalidPayload, "reason", "NUL")  # fmt: skip
    refuses_and_stores_nothing(services, lambda: link_identities(ledger, [pair[0], {"local_id": "L\udcff", "agency": registered}], by="x", reason="ok"),
                               InvalidPayload, "identifiers[1].local_id")  # fmt: skip
    refuses_and_stores_nothing(services, lambda: unlink_identities(ledger, by="x", reason="ok", agency=registered, record_id="r\ud800"),
                               InvalidPayload, "record_id must be printable")  # fmt: skip
    refuses_and_stores_nothing(services, lambda: unlink_identities(ledger, by="x", reason="ok", link_id="\ud800"),
                               NotFound, "link ids are UUIDs")  # fmt: skip


def test_access_entries_with_bad_text_store_nothing(services, registered):
    def read(**changes):
        fields = dict(token_id="0123456789abcdef", role="practitioner", child=CHILD, read="chronology",
                      query={"nhs_number": "9434765919"}, local_authority="309")  # fmt: skip
        return lambda: log_access(services.ledger, **{**fields, **changes})

    refuses_and_stores_nothing(services, read(break_glass=True, reason="\x00"), InvalidPayload, "break-glass reason")
    refuses_and_stores_nothing(services, read(query={"local_id": "\ud800", "agency": registered}), InvalidPayload, "local_id")
    refuses_and_stores_nothing(services, read(local_authority="\u0663\u0660\u0669"), InvalidPayload, "local_authority")
    before = sizes(services)
    read(break_glass=True, reason="Fictional: urgent.\nSecond line.")()
    assert sizes(services) == (before[0] + 1, before[1] + 1)


def test_agency_names_ids_and_revocation_reasons_store_nothing(services, registered, agency_key):
    ledger, key = services.ledger, Ed25519PrivateKey.generate().public_key()
    refuses_and_stores_nothing(services, lambda: ledger.register_agency("zoo", "other", "Zoo\x00", key, serves=["309"], by="cli"), InvalidPayload, "agency name")
    refuses_and_stores_nothing(services, lambda: ledger.register_agency("\u0663\u0660\u0669", "other", "Z", key, serves=["309"], by="cli"), InvalidPayload, "agency id")
    keyid = dsse.key_id(agency_key.public_key())
    refuses_and_stores_nothing(services, lambda: ledger.revoke_key(registered, keyid, "\ud800", by="cli"), InvalidPayload, "revocation reason")
    refuses_and_stores_nothing(services, lambda: ledger.add_key("police\udcff", key, by="cli"), InvalidPayload, "agency id")


def test_what_the_ledger_refuses_it_refuses_the_same_from_json_bytes(services, registered, agency_key):
    """The HTTP body path: envelope bytes whose payload escapes a lone surrogate."""
    payload = json.dumps(concern(summary="\udfff")).encode()
    assert b"\\udfff" in payload
    (result,) = services.submit([json.dumps(dsse.sign(payload, agency_key)).encode()])
    assert isinstance(result, InvalidPayload) and "summary holds a lone surrogate" in str(result)


def test_an_unknown_key_id_is_not_echoed_unless_printable(services, registered):
    refuses_and_stores_nothing(services, lambda: services.ledger.revoke_key(registered, "k\x00\ud800", "lost", by="cli"),
                               NotFound, "has no key (one not shown")  # fmt: skip
    refuses_and_stores_nothing(services, lambda: services.ledger.revoke_key(registered, "00" * 32, "lost", by="cli"), NotFound, "00" * 32)
