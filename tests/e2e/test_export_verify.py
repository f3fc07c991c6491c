"""``ledger export`` and ``ledger verify``: a real multi-agency ledger on both backends verifies, as a
bundle and live; the bundle checks out with independent code; and the offline verifier (domain/audit)
holds each record to the key its agency had at that point of the log."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from api.bootstrap import Services
from api.cli import main
from domain import envelope as dsse
from domain.agencies import AGENCY_NAMESPACE, agency_aggregate_id
from domain.audit import Auditor, EntryProblem, _name_uuid, audit_chunk
from domain.bundle import parse_export_line
from domain.keystatements import sign_statement
from domain.checkpoint import Checkpoint, parse_vkey, sign_checkpoint, vkey
from domain.entries import canonical_json
from domain.errors import IntegrityFailure
from domain.records import RECORD_NAMESPACE, record_aggregate_id
from tests import merkle_reference as ref
from tests.conftest import concern
from tests.integration.test_integrity import verify_note_independently

ORIGIN = "test.example/log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VERIFIER = parse_vkey(vkey(ORIGIN, LOG_KEY.public_key()))


@dataclass
class Case:
    """A ledger built by ``build_case``, and where its notable entries sit."""

    size: int
    revoked_key_added_at: int
    first_record: int


def build_case(services: Services, police_key: Ed25519PrivateKey, records: int = 12) -> Case:
    """Two fictional agencies; police rotate their key and revoke the first after using it."""
    health_key, new_police_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    ledger = services.ledger
    ledger.register_agency("northshire-police", "police", "Northshire Police (fictional)", police_key.public_key(),
                           serves=["309"], by="cli")
    ledger.register_agency("northshire-health", "health", "Northshire Health (fictional)", health_key.public_key(),
                           serves=["309"], by="cli")
    old = [dsse.sign(json.dumps(concern(f"old-{i}")).encode(), police_key) for i in range(records)]
    services.submit(old)
    services.checkpoint()
    statement = sign_statement("northshire-police", new_police_key.public_key(), police_key)
    ledger.add_key("northshire-police", new_police_key.public_key(), by="cli", statement=statement)
    ledger.revoke_key("northshire-police", dsse.key_id(police_key.public_key()), "rotated (fictional)", by="cli")
    services.runner.catch_up()
    services.checkpoint()
    new = [dsse.sign(json.dumps(concern(f"new-{i}")).encode(), new_police_key) for i in range(records)]
    health = [
        dsse.sign(json.dumps(concern(f"h-{i}", agency="northshire-health")).encode(), health_key)
        for i in range(records)
    ]
    services.submit(new + health)
    size = services.checkpoint().size
    assert size == 4 + 3 * records + 2
    return Case(size=size, revoked_key_added_at=1, first_record=4)


def cli(*args: str) -> int:
    return main([str(a) for a in args])


def db_args(services: Services) -> list[str]:
    return ["--database-url", services.settings.database_url, "--checkpoint-key", services.settings.checkpoint_key]


def test_export_then_verify_passes_on_a_rotated_and_revoked_ledger(services, agency_key, tmp_path, capsys) -> None:
    case = build_case(services, agency_key)
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db_args(services)) == 0
    assert cli("verify", out, "--processes", "0") == 0
    # The export's own access entry is the last entry, and a checkpoint covering it the fourth.
    assert f"verified {case.size + 1} entries and 4 checkpoints" in capsys.readouterr().out
    assert cli("verify", *db_args(services), "--processes", "0") == 0
    assert f"verified {case.size + 1} entries" in capsys.readouterr().out
    assert cli("verify", out, "--vkey", out / "log.vkey", "--checkpoint", out / "checkpoint", "--processes", "1") == 0
    captured = capsys.readouterr()
    assert "verifying:" not in captured.err, "no progress bar when standard error is not a terminal"


def test_the_bundle_verifies_with_independent_code(services, agency_key, tmp_path) -> None:
    case = build_case(services, agency_key)
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db_args(services)) == 0
    lines = [json.loads(line) for line in (out / "entries.jsonl").read_text().splitlines()]
    size = case.size + 1  # and the export's own access entry, last
    assert [line["index"] for line in lines] == list(range(size))
    entries = [base64.b64decode(line["entry"]) for line in lines]
    for entry, line in zip(entries, lines):
        assert hashlib.sha256(b"\x00" + entry).digest() == base64.b64decode(line["leaf_hash"])
    vkey_text = (out / "log.vkey").read_text().strip()
    origin, size, root = verify_note_independently((out / "checkpoint").read_text(), vkey_text)
    assert (origin, size) == (services.settings.origin, case.size + 1)
    assert root == ref.mth(entries)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["size"] == case.size + 1 and manifest["checkpoints"] == 4
    keys = [json.loads(line) for line in (out / "keys.jsonl").read_text().splitlines()]
    assert [k["kind"] for k in keys] == ["agency_registered", "key_added"] * 2 + ["key_added", "key_revoked"]


def test_export_refuses_a_directory_in_use(services, registered, tmp_path, capsys) -> None:
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "something").write_text("x")
    assert cli("export", "--out", tmp_path / "bundle", *db_args(services)) == 2
    assert "not empty" in capsys.readouterr().err


def test_a_foreign_vkey_or_a_longer_held_checkpoint_fails(services, agency_key, tmp_path, capsys) -> None:
    case = build_case(services, agency_key, records=3)
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db_args(services)) == 0
    capsys.readouterr()
    assert cli("verify", out, "--vkey", vkey(services.settings.origin, LOG_KEY.public_key()), "--processes", "0") == 1
    # The foreign key signed none of the ledger's own entries either, the first of which is leaf 0.
    assert capsys.readouterr().out.startswith("leaf 0: the agency_registered entry's ledger signature fails")
    longer = tmp_path / "held"
    origin = services.settings.origin
    longer.write_text(sign_checkpoint(Checkpoint(origin, case.size + 5, bytes(32)), origin, services.signer.private_key))
    assert cli("verify", out, "--checkpoint", longer, "--processes", "0") == 1
    exported = case.size + 1  # and the export's own access entry
    assert capsys.readouterr().out.startswith(f"leaf {exported}: the log ends after {exported} entries")


@pytest.mark.slow
def test_thousands_of_records_verify_with_two_processes(services, agency_key, tmp_path, capsys) -> None:
    records = [dsse.sign(json.dumps(concern(f"ref-{i}")).encode(), agency_key) for i in range(3000)]
    services.ledger.register_agency("northshire-police", "police", "Police (fictional)", agency_key.public_key(),
                                    serves=["309"], by="cli")
    for start in range(0, len(records), 1000):
        services.submit(records[start : start + 1000])
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db_args(services)) == 0
    assert cli("verify", out, "--processes", "2") == 0
    assert cli("verify", *db_args(services), "--processes", "2") == 0
    assert capsys.readouterr().out.count("verified 3003 entries") == 2  # and the export's access entry


# The offline verifier on hand-made logs -----------------------------------------------------------


def entry(kind: str, originator: object, **fields: object) -> bytes:
    frame = {"v": 1, "kind": kind, "at": "2026-03-01T09:30:00.000000Z", "originator": str(originator)}
    return canonical_json({**frame, **fields})


def agency_entries(agency: str, key: Ed25519PrivateKey) -> list[bytes]:
    raw = key.public_key().public_bytes_raw()
    originator = agency_aggregate_id(agency)
    return [
        entry("agency_registered", originator, agency=agency, agency_kind="police", name="fictional"),
        entry("key_added", originator, agency=agency, keyid=hashlib.sha256(raw).hexdigest(),
              public_key=base64.b64encode(raw).decode()),  # fmt: skip
    ]


def revoke_entry(agency: str, key: Ed25519PrivateKey) -> bytes:
    keyid = dsse.key_id(key.public_key())
    return entry("key_revoked", agency_aggregate_id(agency), agency=agency, keyid=keyid, reason="fictional")


def record_entry(agency: str, record_id: str, key: Ed25519PrivateKey, payload: bytes | None = None) -> bytes:
    envelope = dsse.sign(payload or json.dumps(concern(record_id, agency=agency)).encode(), key)
    return entry(
        "record", record_aggregate_id(agency, record_id), agency=agency, record_id=record_id,
        keyid=dsse.key_id(key.public_key()), envelope=envelope,
    )  # fmt: skip


def audit(
    entries: list[bytes], chunk: int = 4, recorded: bool = True, checkpoint_sizes: tuple[int, ...] = ()
) -> int:
    """Verify hand-made entries, with checkpoints of the honest log at the given sizes; returns the size."""
    keys = {}
    for e in entries:
        data = json.loads(e)
        if data["kind"] == "key_added":
            keys[data["keyid"]] = base64.b64decode(data["public_key"])
    honest = honest_log()
    notes = [(s, sign_checkpoint(Checkpoint(ORIGIN, s, ref.mth(honest[:s])), ORIGIN, LOG_KEY)) for s in checkpoint_sizes]
    auditor = Auditor(VERIFIER, notes)
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        items = [(e, hashlib.sha256(b"\x00" + e).digest() if recorded else None) for e in part]
        auditor.add(audit_chunk(start, items, keys))
    return auditor.finish().size


POLICE, HEALTH = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
ROTATED = Ed25519PrivateKey.generate()


def honest_log() -> list[bytes]:
    p = agency_entries("police", POLICE)
    h = agency_entries("health", HEALTH)
    rotated = agency_entries("police", ROTATED)[1:]
    before = [record_entry("police", f"p{i}", POLICE) for i in range(3)]
    after = [record_entry("police", f"q{i}", ROTATED) for i in range(3)]
    return p + h + before + rotated + [revoke_entry("police", POLICE)] + after + [record_entry("health", "h1", HEALTH)]


def test_an_honest_log_verifies_and_revocation_keeps_earlier_records() -> None:
    log = honest_log()
    assert audit(log, checkpoint_sizes=(0, 1, 7, len(log))) == len(log)


def failure(entries: list[bytes], **kwargs) -> tuple[int, str]:
    with pytest.raises(IntegrityFailure) as caught:
        audit(entries, **kwargs)
    return caught.value.leaf_index, caught.value.reason


def test_a_record_signed_with_a_revoked_key_fails_at_its_index() -> None:
    log = honest_log() + [record_entry("police", "late", POLICE)]
    index, reason = failure(log)
    assert index == len(log) - 1 and "revoked at leaf 8" in reason


def test_a_record_signed_with_another_agencys_key_fails() -> None:
    log = honest_log()
    log.insert(5, record_entry("police", "borrowed", HEALTH, json.dumps(concern("borrowed", agency="police")).encode()))
    assert failure(log)[0] == 5
    assert "not registered to agency police" in failure(log)[1]


def test_a_key_used_before_it_was_added_fails() -> None:
    log = honest_log()
    log.insert(4, record_entry("police", "early", ROTATED))
    keyid = dsse.key_id(ROTATED.public_key())
    assert failure(log) == (4, f"key {keyid} was not registered to agency police before this record")


def test_a_payload_naming_another_agency_or_a_bad_signature_fails() -> None:
    log = honest_log()
    log[4] = record_entry("police", "p0", POLICE, json.dumps(concern("p0", agency="health")).encode())
    assert failure(log) == (4, "the signed payload names another agency or record_id than its entry")
    data = json.loads(honest_log()[4])
    data["envelope"]["payload"] = base64.b64encode(b'{"agency": "police", "record_id": "p0"}').decode()
    log[4] = canonical_json(data)
    assert "no signature by key" in failure(log)[1]


def test_a_wrong_checkpoint_names_its_last_leaf() -> None:
    log = honest_log()
    bad = sign_checkpoint(Checkpoint(ORIGIN, 6, bytes(32)), ORIGIN, LOG_KEY)
    auditor = Auditor(VERIFIER, [(6, bad)])
    keys = {json.loads(e)["keyid"]: base64.b64decode(json.loads(e)["public_key"]) for e in log if b"key_added" in e}
    with pytest.raises(IntegrityFailure) as caught:
        auditor.add(audit_chunk(0, [(e, None) for e in log], keys))
    assert caught.value.leaf_index == 5 and "another root" in caught.value.reason


def test_export_lines_must_be_dense() -> None:
    with pytest.raises(EntryProblem, match="dense"):
        parse_export_line(json.dumps({"index": 3, "entry": "e30=", "leaf_hash": None}), 2)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_flipped_byte_of_any_entry_fails_at_that_entry(data) -> None:
    log = honest_log()
    index = data.draw(st.integers(0, len(log) - 1), label="index")
    position = data.draw(st.integers(0, len(log[index]) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    tampered = bytearray(log[index])
    tampered[position] ^= 1 << bit
    recorded = [hashlib.sha256(b"\x00" + e).digest() for e in log]
    keys = {json.loads(e)["keyid"]: base64.b64decode(json.loads(e)["public_key"]) for e in log if b"key_added" in e}
    auditor = Auditor(VERIFIER, [])
    items = [(bytes(tampered) if i == index else e, recorded[i]) for i, e in enumerate(log)]
    chunk = data.draw(st.integers(1, len(log)), label="chunk")
    with pytest.raises(IntegrityFailure) as caught:
        for start in range(0, len(log), chunk):
            auditor.add(audit_chunk(start, items[start : start + chunk], keys))
    assert caught.value.leaf_index == index


@settings(max_examples=40, deadline=None)
@given(chunk=st.integers(1, 20), sizes=st.sets(st.integers(0, 13)))
def test_chunking_and_checkpoint_placement_do_not_change_the_verdict(chunk, sizes) -> None:
    log = honest_log()
    assert audit(log, chunk=chunk, recorded=False, checkpoint_sizes=tuple(sorted(sizes))) == len(log)


def test_checkpoints_are_checked_at_their_size_without_recorded_hashes(tmp_path: Path) -> None:
    log = honest_log()
    log[6] = log[6].replace(b'"p2"', b'"p9"', 1)  # originator no longer matches: caught at the entry
    assert failure(log, recorded=False)[0] == 6
    log = honest_log()
    log[2] = log[2].replace(b'"fictional"', b'"FICTIONAL"')  # no rule breaks, only the root moves
    index, reason = failure(log, recorded=False, checkpoint_sizes=(8,))
    assert (index, reason) == (7, "checkpoint of size 8 signs another root than the entries up to it give")


def test_an_entry_with_a_repeated_name_is_refused() -> None:
    log = honest_log()
    log[4] = log[4].replace(b'{"agency":"police",', b'{"agency":"health","agency":"police",', 1)
    assert failure(log, recorded=False) == (4, "the entry is not UTF-8 JSON without repeated names")


@settings(max_examples=100, deadline=None)
@given(agency=st.text(min_size=1, max_size=20), record_id=st.text(min_size=1, max_size=40))
def test_the_verifier_derives_aggregate_ids_as_the_ledger_does(agency, record_id) -> None:
    assert _name_uuid(RECORD_NAMESPACE, f"{agency}\x1f{record_id}") == str(record_aggregate_id(agency, record_id))
    assert _name_uuid(AGENCY_NAMESPACE, agency) == str(agency_aggregate_id(agency))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={"payloadType": st.just(dsse.PAYLOAD_TYPE) | json_values, "payload": st.just("e30=") | json_values,
              "signatures": st.lists(st.fixed_dictionaries({}, optional={"keyid": json_values, "sig": json_values}))},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["record", "agency_registered", "key_added", "key_revoked", "access"]),
    fields=st.dictionaries(
        st.sampled_from(["agency", "record_id", "keyid", "public_key", "originator"]), json_values | st.text()
    ),
    envelope=envelopes | json_values,
)
def test_malformed_entries_fail_with_their_index_and_never_crash(kind, fields, envelope) -> None:
    log = honest_log()
    keys = {json.loads(e)["keyid"]: base64.b64decode(json.loads(e)["public_key"]) for e in log if b"key_added" in e}
    log.append(entry(kind, fields.pop("originator", "x"), envelope=envelope, **fields))
    auditor = Auditor(VERIFIER, [])
    try:
        auditor.add(audit_chunk(0, [(e, None) for e in log], keys))
    except IntegrityFailure as failure:
        assert failure.leaf_index == len(log) - 1
