"""Receipts that stand alone, over real HTTP on both backends: ``GET /v1/receipts`` gives a bundle
that ``ledger receipt verify`` checks offline (and against the ledger with --url), and that a check
written here from RFC 9162 section 2.1.3.2 and C2SP signed-note / tlog-proof accepts too, without
the project's Merkle or note code. Also: reads do not multiply checkpoints."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from api.cli import main
from projections.checkpoints import checkpoints
from tests.api_live import Live, fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_records import assert_problem


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def independent_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2, step by step as the RFC words it."""
    assert index < size
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0, "the path is longer than the tree"
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "the path is shorter than the tree"
    return r


def independent_note_check(note: str, vkey_text: str) -> tuple[str, int, bytes]:
    """C2SP signed-note with an Ed25519 vkey, then tlog-checkpoint: (origin, size, root)."""
    name, key_id, material = vkey_text.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 1 and sha256(name.encode() + b"\n" + raw).hex()[:8] == key_id
    cut = note.rindex("\n\n")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    ours = [base64.b64decode(line.split(" ")[2]) for line in lines if line.split(" ")[1] == name]
    ours = [blob for blob in ours if blob[:4].hex() == key_id]
    assert len(ours) == 1
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(ours[0][4:], text.encode())
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def bundle_for(live: Live, tmp_path, count: int = 3) -> tuple[str, list[dict], dict]:
    agency = live.agency()
    with live.client(live.token("agency", agency=agency)) as client:
        receipts = [client.post("/v1/records", json=live.envelope(concern(f"r-{i}", agency=agency))).json()
                    for i in range(count)]  # fmt: skip
        response = client.get("/v1/receipts", params={"leaf_index": receipts[min(1, count - 1)]["leaf_index"]})
    assert response.status_code == 200, response.text
    return agency, receipts, response.json()


def test_a_receipt_bundle_verifies_independently_of_the_project(live, tmp_path):
    _, receipts, bundle = bundle_for(live, tmp_path)
    receipt = bundle["receipt"]
    assert receipt == receipts[1]
    entry = base64.b64decode(bundle["entry"])
    assert base64.b64encode(sha256(b"\x00" + entry)).decode() == receipt["leaf_hash"]
    assert json.loads(entry)["record_id"] == "r-1"
    head, note = bundle["proof"].split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1] == f"index {receipt['leaf_index']}"
    origin, size, root = independent_note_check(note, bundle["vkey"])
    assert origin == bundle["vkey"].split("+")[0] and size > receipts[-1]["leaf_index"]
    path = [base64.b64decode(line) for line in lines[2:]]
    assert independent_root(receipt["leaf_index"], size, sha256(b"\x00" + entry), path) == root


def test_ledger_receipt_verify_checks_a_bundle_offline_and_against_the_ledger(live, tmp_path, capsys):
    agency, _, bundle = bundle_for(live, tmp_path)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(bundle))
    with live.client(live.token("agency", agency=agency)) as client:
        vkey_text = client.get("/v1/log/key").text.strip()
    assert main(["receipt", "verify", str(path), "--vkey", vkey_text]) == 0
    assert "receipt verified: leaf" in capsys.readouterr().out
    live.agency()  # the log grows: the ledger must prove its newer checkpoint extends the bundle's
    token = live.token("agency", agency=agency)
    assert main(["receipt", "verify", str(path), "--url", live.base_url, "--token", token]) == 0
    assert "still in the log" in capsys.readouterr().out


def test_a_tampered_bundle_is_refused(live, tmp_path, capsys):
    _, receipts, bundle = bundle_for(live, tmp_path)
    other = dict(bundle, receipt=dict(bundle["receipt"], record_id="r-2"))
    moved = dict(bundle, receipt=dict(receipts[0]), entry=bundle["entry"])
    head, note = bundle["proof"].split("\n\n", 1)
    lines = head.split("\n")
    wrong_path = dict(bundle, proof="\n".join([*lines[:2], *reversed(lines[2:]), ""]) + "\n" + note)
    wrong_path = wrong_path if lines[3:] else dict(bundle, proof="\n".join([*lines, lines[-1]]) + "\n\n" + note)
    resigned = dict(bundle, proof=bundle["proof"].replace("\n\n\u2014 ", "\n\n\u2014 x", 1))
    for number, forged in enumerate([other, moved, wrong_path, resigned]):
        path = tmp_path / f"forged-{number}.json"
        path.write_text(json.dumps(forged))
        assert main(["receipt", "verify", str(path)]) == 1, number
        assert "NOT verified" in capsys.readouterr().out


def test_only_the_agency_or_an_inquiry_gets_a_bundle(live, tmp_path):
    agency, receipts, _ = bundle_for(live, tmp_path, count=1)
    index = receipts[0]["leaf_index"]
    with live.client(live.token("agency", agency=live.agency())) as client:
        assert_problem(client.get("/v1/receipts", params={"leaf_index": index}), 404, "not-found")
        assert_problem(client.get("/v1/receipts", params={"leaf_index": 1}), 404, "not-found")  # a key entry
    with live.client(live.token("practitioner", local_authority="309")) as client:
        assert_problem(client.get("/v1/receipts", params={"leaf_index": index}), 403, "forbidden")
    with live.client(live.token("inquiry")) as client:
        assert client.get("/v1/receipts", params={"leaf_index": index}).json()["receipt"] == receipts[0]


def test_reads_do_not_multiply_checkpoints_but_receipts_are_covered(live):
    agency = live.agency()
    nhs = fresh_nhs_number()
    subject = {"nhs_number": nhs, "given_name": "Ada", "family_name": "Example"}
    with live.client(live.token("agency", agency=agency)) as client:
        receipt = client.post("/v1/records", json=live.envelope(concern("read-me", agency=agency, subject=subject)))
    with live.client(live.token("practitioner", local_authority="309")) as client:
        first = client.get("/v1/log/checkpoint")
        assert int(first.text.split("\n")[1]) > receipt.json()["leaf_index"], "the receipt is covered"
        with live.services.engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(checkpoints)).scalar()
        for _ in range(20):
            assert client.get("/v1/chronology", params={"nhs_number": nhs}).status_code == 200
            assert client.get("/v1/log/checkpoint").status_code == 200
    with live.services.engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(checkpoints)).scalar()
    assert after - before <= 2, f"{after - before} checkpoints for 20 reads"
    with live.client(live.token("agency", agency=agency)) as client:
        newer = client.post("/v1/records", json=live.envelope(concern("read-me-2", agency=agency))).json()
        size = int(client.get("/v1/log/checkpoint").text.split("\n")[1])
    assert size > newer["leaf_index"], "a new receipt is covered at once"
