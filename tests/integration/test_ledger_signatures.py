"""The ledger's own signature on every entry no agency signs (SPEC 6.4, docs/log-format.md): made as
the event is stored, checked by ``ledger verify`` from the point the log's signatures begin; entries
written before the ledger signed entries still verify, an unsigned one after that point does not."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from api.bootstrap import bootstrap
from api.cli import main
from domain.access import log_access
from domain.audit import Auditor, audit_chunk
from domain.entries import LEDGER_SIGNATURE, canonical_json, check_ledger_signature, ledger_signed, sign_entry
from domain.errors import IntegrityFailure, LedgerError
from projections import checkpoints as cp
from projections.eventstore import open_ledger
from projections.integrity import tree_size
from tests.data.make_golden import CHILD, build_every_kind, written_before_ledger_signatures
from tests.e2e.test_export_verify import LOG_KEY, VERIFIER, db_args, honest_log


def run(capsys, *args: object) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_ledger_without_the_key_appends_no_entry_but_records(database_url) -> None:
    ledger = open_ledger(database_url)
    try:
        with pytest.raises(LedgerError, match="no entry signing key"):
            ledger.register_agency("northshire-police", "police", "Police (fictional)", LOG_KEY.public_key(),
                                   serves=["309"], by="cli")
        assert ledger.recorder.max_notification_id() in (None, 0)
    finally:
        ledger.close()


def test_every_entry_no_agency_signs_carries_the_ledgers_signature(services, tmp_path, capsys) -> None:
    first_key = services.signer.private_key.public_key()
    build_every_kind(services, legacy=False)  # it ends by rotating the checkpoint key, and so entry signing
    signing_keys = [first_key, services.signer.private_key.public_key()]
    with services.engine.connect() as conn:
        entries = cp.entries(conn, 0, tree_size(conn))
    kinds = set()
    for entry in entries:
        data = json.loads(entry)
        kinds.add(data["kind"])
        if ledger_signed(data["kind"]):
            assert any(_holds(entry, data, key) for key in signing_keys), f"leaf of kind {data['kind']} unsigned"
        else:
            assert LEDGER_SIGNATURE not in data, "an agency signs its records; the ledger adds nothing"
    assert {"access", "prompt_decision", "identity_linked", "identity_unlinked", "record_link_withdrawn",
            "key_added", "key_revoked", "agency_registered", "record"} <= kinds  # fmt: skip
    status, out, err = run(capsys, "verify", *db_args(services), "--processes", "0")
    assert status == 0 and "every read model equals its rebuild" in out and "before the ledger signed" not in err
    assert run(capsys, "export", "--out", tmp_path / "bundle", *db_args(services))[0] == 0
    assert run(capsys, "verify", tmp_path / "bundle", "--processes", "0")[0] == 0


def test_entries_from_before_ledger_signatures_verify_but_not_after_they_began(services, capsys) -> None:
    build_every_kind(services, legacy=True)  # three unsigned entries, then the ledger's signatures
    status, _, err = run(capsys, "verify", *db_args(services), "--processes", "0")
    assert status == 0 and "3 entries before leaf 4, where the ledger's signatures begin, carry none" in err
    with written_before_ledger_signatures(services.ledger):
        log_access(services.ledger, token_id="t", role="inquiry", child=CHILD, read="risk", query={})
    services.runner.catch_up()
    with services.engine.connect() as conn:
        leaf = tree_size(conn) - 1
    status, out, _ = run(capsys, "verify", *db_args(services), "--processes", "0")
    assert status == 1
    assert out.startswith(f"leaf {leaf}: the access entry carries no ledger signature, though the ledger has signed "
                          "its entries since leaf 4")  # fmt: skip


def signed_log() -> list[bytes]:
    """tests/e2e/test_export_verify's hand-made log with every entry but records signed by the log key."""
    log = []
    for entry in honest_log():
        data = json.loads(entry)
        if ledger_signed(data["kind"]):
            data[LEDGER_SIGNATURE] = sign_entry(canonical_json(data), LOG_KEY)
        log.append(canonical_json(data))
    return log


def audit(log: list[bytes], chunk: int = 5) -> int:
    keys = {}
    for e in signed_log():  # the key history as listed, whatever became of the entries
        data = json.loads(e)
        if data["kind"] == "key_added":
            keys[data["keyid"]] = base64.b64decode(data["public_key"])
    auditor = Auditor(VERIFIER, [])
    for start in range(0, len(log), chunk):
        items = [(e, None) for e in log[start : start + chunk]]
        auditor.add(audit_chunk(start, items, keys, LOG_KEY.public_key().public_bytes_raw()))
    result = auditor.finish()
    assert result.signed_from == 0 and result.unsigned_before == 0
    return result.size


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_of_a_ledger_signed_entry_fails_there_with_no_recorded_hash(data) -> None:
    log = signed_log()
    assert audit(log) == len(log)
    signed = [i for i, e in enumerate(log) if ledger_signed(json.loads(e)["kind"])]
    index = data.draw(st.sampled_from(signed), label="index")
    position = data.draw(st.integers(0, len(log[index]) - 1), label="byte")
    tampered = bytearray(log[index])
    tampered[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    log[index] = bytes(tampered)
    with pytest.raises(IntegrityFailure) as caught:
        audit(log, chunk=data.draw(st.integers(1, len(log)), label="chunk"))
    assert caught.value.leaf_index == index


def test_a_signed_entry_respelt_or_signed_by_another_key_fails() -> None:
    log = signed_log()
    log[0] = log[0].replace(b'{"agency"', b'{ "agency"', 1)  # the same fields, another spelling
    with pytest.raises(IntegrityFailure, match="must be in canonical form") as caught:
        audit(log)
    assert caught.value.leaf_index == 0
    log = signed_log()
    data = json.loads(log[1])
    data[LEDGER_SIGNATURE] = sign_entry(canonical_json({k: v for k, v in data.items() if k != LEDGER_SIGNATURE}),
                                        Ed25519PrivateKey.generate())  # fmt: skip
    log[1] = canonical_json(data)
    with pytest.raises(IntegrityFailure, match="the ledger's signature over it does not verify") as caught:
        audit(log)
    assert caught.value.leaf_index == 1


def test_the_signature_covers_the_entry_in_a_separate_domain() -> None:
    """The signed message is the DSSE PAE of the unsigned entry with the entry payload type, never
    the entry itself (which a checkpoint note signed with the same key could otherwise be)."""
    unsigned = canonical_json({"v": 1, "kind": "access", "at": "2026-03-01T09:30:00.000000Z", "originator": "x"})
    signature = base64.b64decode(sign_entry(unsigned, LOG_KEY))
    message = b"DSSEv1 %d application/vnd.safeguarding-ledger.entry.v1+json %d %b" % (49, len(unsigned), unsigned)
    LOG_KEY.public_key().verify(signature, message)  # raises if the format drifted
    assert hashlib.sha256(message).digest() != hashlib.sha256(unsigned).digest()


def test_a_ledger_of_an_earlier_version_rebuilds_its_leaves_once_keeping_its_checkpoints(settings, capsys) -> None:
    services = bootstrap(settings)
    try:
        build_every_kind(services, legacy=True)
        before = services.checkpoint()
        with services.engine.begin() as conn:  # the leaves table as versions before stored entries had it
            conn.execute(text("ALTER TABLE integrity_leaves DROP COLUMN entry"))
    finally:
        services.close()
    services = bootstrap(settings)
    try:
        with services.engine.connect() as conn:
            assert cp.latest_checkpoint(conn) == before
            assert tree_size(conn) == before.size
    finally:
        services.close()
    assert run(capsys, "verify", "--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key,
               "--processes", "0")[0] == 0  # fmt: skip


def _holds(entry: bytes, data: dict, key) -> bool:
    try:
        check_ledger_signature(entry, data, key)
    except ValueError:
        return False
    return True
