"""The verifiable log over real HTTP: a client holding only the vkey checks checkpoints, receipts,
inclusion and consistency proofs and the entries themselves, with the domain's verifiers."""

from __future__ import annotations

import base64
import json

from domain import merkle
from domain.checkpoint import parse_vkey, verify_checkpoint
from domain.entries import decode_entry
from tests.api_live import Live, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_records import assert_problem


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def post_records(live: Live, count: int) -> tuple[str, list[dict]]:
    agency = live.agency()
    with live.client(live.token("agency", agency=agency)) as client:
        receipts = [client.post("/v1/records", json=live.envelope(concern(f"ref-{i}", agency=agency))).json()
                    for i in range(count)]  # fmt: skip
    return agency, receipts


def test_a_receipt_is_covered_by_the_next_checkpoint_and_its_inclusion_proof_verifies(live):
    _, receipts = post_records(live, 3)
    with live.client(live.token("agency", agency=receipts[0]["agency"])) as client:
        vkey = client.get("/v1/log/key")
        note = client.get("/v1/log/checkpoint")
        assert vkey.status_code == note.status_code == 200
        assert note.headers["content-type"].startswith("text/plain")
        checkpoint = verify_checkpoint(note.text, parse_vkey(vkey.text.strip()))
        assert checkpoint.size > receipts[-1]["leaf_index"]
        for receipt in receipts:
            params = {"index": receipt["leaf_index"], "size": checkpoint.size}
            response = client.get("/v1/log/proof/inclusion", params=params)
            assert response.status_code == 200
            proof = response.json()
            assert proof["leaf_hash"] == receipt["leaf_hash"]
            merkle.verify_inclusion(b64(proof["leaf_hash"]), proof["index"], proof["size"],
                                    [b64(p) for p in proof["proof"]], checkpoint.root)  # fmt: skip


def test_successive_checkpoints_are_consistent(live):
    post_records(live, 2)
    token = live.token("practitioner", local_authority="309")
    with live.client(token) as client:
        verifier = parse_vkey(client.get("/v1/log/key").text.strip())
        older = verify_checkpoint(client.get("/v1/log/checkpoint").text, verifier)
        post_records(live, 3)
        newer = verify_checkpoint(client.get("/v1/log/checkpoint").text, verifier)
        response = client.get("/v1/log/proof/consistency", params={"from": older.size, "to": newer.size})
    assert response.status_code == 200
    proof = response.json()
    assert (proof["from"], proof["to"]) == (older.size, newer.size) and newer.size > older.size
    merkle.verify_consistency(older.size, newer.size, [b64(p) for p in proof["proof"]], older.root, newer.root)


def test_an_inquiry_fetches_entries_as_json_lines_that_hash_to_the_receipts(live):
    _, receipts = post_records(live, 2)
    first = receipts[0]["leaf_index"]
    with live.client(live.token("inquiry")) as client:
        response = client.get("/v1/log/entries", params={"start": first, "end": first + 2})
        default = client.get("/v1/log/entries", params={"start": 0})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["index"] for line in lines] == [first, first + 1]
    for line, receipt in zip(lines, receipts):
        entry = b64(line["entry"])
        assert merkle.leaf_hash(entry) == b64(receipt["leaf_hash"])
        assert decode_entry(entry)["record_id"] == receipt["record_id"]
    indexes = [json.loads(line)["index"] for line in default.text.splitlines()]
    assert indexes == list(range(len(indexes))) and receipts[-1]["leaf_index"] < len(indexes) <= 1000


def test_entries_are_capped_per_request(live, monkeypatch):
    import api.usecases.inquiry as inquiry

    post_records(live, 3)
    monkeypatch.setattr(inquiry, "MAX_ENTRIES", 2)  # the server runs in this process
    with live.client(live.token("inquiry")) as client:
        response = client.get("/v1/log/entries", params={"start": 0, "end": 1_000_000})
    assert [json.loads(line)["index"] for line in response.text.splitlines()] == [0, 1]


def test_only_inquiries_fetch_entries(live):
    agency = live.agency()
    tokens = [live.token("agency", agency=agency), live.token("practitioner", local_authority="309"),
              live.token("admin")]  # fmt: skip
    for token in tokens:
        with live.client(token) as client:
            assert_problem(client.get("/v1/log/entries", params={"start": 0}), 403, "forbidden")


def test_proofs_beyond_the_log_get_404_and_nonsense_gets_400(live):
    post_records(live, 1)
    with live.client(live.token("inquiry")) as client:
        assert_problem(client.get("/v1/log/proof/inclusion", params={"index": 0, "size": 10**9}), 404, "not-found")
        assert_problem(client.get("/v1/log/proof/inclusion", params={"index": 5, "size": 2}), 404, "not-found")
        assert_problem(client.get("/v1/log/proof/consistency", params={"from": 3, "to": 10**9}), 404, "not-found")
        assert_problem(client.get("/v1/log/entries", params={"start": 10**9}), 404, "not-found")
        for path, params in (
            ("/v1/log/proof/inclusion", {"index": "x", "size": 2}),
            ("/v1/log/proof/inclusion", {"index": -1, "size": 2}),
            ("/v1/log/proof/consistency", {"from": 1}),
        ):
            assert_problem(client.get(path, params=params), 400, "malformed-request")
        backwards = client.get("/v1/log/entries", params={"start": 2, "end": 1})  # [2, 1) is empty
        assert backwards.status_code == 200 and backwards.text == "", backwards.text
