"""Agencies posting over real HTTP: every status code of POST /v1/records and the batch endpoint,
and nothing stored on any refusal."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from api import tokens
from projections.integrity import leaves
from tests.api_live import Live, live  # noqa: F401 - the fixture
from tests.conftest import concern

PROBLEM = "application/problem+json"
TYPE = "https://safeguarding-ledger.example/problems/"


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == TYPE + slug and body["status"] == status
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.text
    return body


def log_size(live: Live) -> int:
    """Events stored; on PostgreSQL a refused insert may burn a notification id, so this is the
    highest id, which moves only when something is stored."""
    return live.stored_events()


def test_a_new_record_gets_201_and_a_receipt_that_matches_the_log(live):
    agency = live.agency()
    with live.client(live.token("agency", agency=agency)) as client:
        response = client.post("/v1/records", json=live.envelope(concern("ref-1", agency=agency)))
    assert response.status_code == 201
    receipt = response.json()
    assert set(receipt) == {"agency", "record_id", "leaf_index", "leaf_hash", "recorded_at"}
    assert (receipt["agency"], receipt["record_id"]) == (agency, "ref-1")
    assert receipt["recorded_at"].endswith("Z")
    with live.services.engine.connect() as conn:
        stored = conn.execute(select(leaves.c.leaf_hash).where(leaves.c.leaf_index == receipt["leaf_index"])).scalar()
    assert base64.b64decode(receipt["leaf_hash"]) == stored


def test_the_identical_envelope_again_gets_200_and_the_same_receipt(live):
    agency = live.agency()
    envelope = live.envelope(concern("ref-1", agency=agency))
    with live.client(live.token("agency", agency=agency)) as client:
        first = client.post("/v1/records", json=envelope)
        size = log_size(live)
        # The JSON framing is not significant: reordered keys and white space are the same envelope.
        again = client.post("/v1/records", content=json.dumps(dict(reversed(envelope.items())), indent=2))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert log_size(live) == size


def test_different_bytes_under_a_recorded_id_get_409_and_change_nothing(live):
    agency = live.agency()
    with live.client(live.token("agency", agency=agency)) as client:
        assert client.post("/v1/records", json=live.envelope(concern("ref-1", agency=agency))).status_code == 201
        size = log_size(live)
        response = client.post("/v1/records", json=live.envelope(concern("ref-1", agency=agency, summary="Other.")))
    assert_problem(response, 409, "record-conflict")
    assert log_size(live) == size


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"payloadType": "x", "payloadType": "y", "payload": "", "signatures": []}', id="duplicate-key"),
        pytest.param(b'{"payloadType": NaN}', id="nan"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"payload": "AA=="}', id="missing-fields"),
        pytest.param(
            b'{"payloadType": "t", "payload": "AA==", "signatures": [{"keyid": "k", "sig": "AA=="}], "x": 1}',
            id="extra-field",
        ),
        pytest.param(
            b'{"payloadType": "t", "payload": "***", "signatures": [{"keyid": "k", "sig": "AA=="}]}', id="bad-base64"
        ),
    ],
)
def test_a_body_that_is_not_an_envelope_gets_400(live, body):
    agency = live.agency()
    size = log_size(live)
    with live.client(live.token("agency", agency=agency)) as client:
        response = client.post("/v1/records", content=body, headers={"content-type": "application/json"})
    assert_problem(response, 400, "malformed-envelope")
    assert log_size(live) == size


def test_refused_envelopes_get_422(live):
    agency = live.agency()
    stranger = Ed25519PrivateKey.generate()
    valid = live.envelope(concern("ref-1", agency=agency))
    tampered = dict(valid, payload=base64.b64encode(json.dumps(concern("ref-2", agency=agency)).encode()).decode())
    revoked_key = Ed25519PrivateKey.generate()
    keyid = live.services.ledger.add_key(agency, revoked_key.public_key(), by="cli", override="fictional: test key")
    live.services.ledger.revoke_key(agency, keyid, "fictional: key lost", by="cli")
    live.services.runner.catch_up()
    cases = {
        "unknown key": (live.envelope(concern("ref-3", agency=agency), stranger), "signature-rejected"),
        "bad signature": (tampered, "signature-rejected"),
        "revoked key": (live.envelope(concern("ref-4", agency=agency), revoked_key), "signature-rejected"),
        "invalid payload": (live.envelope(concern("ref-5", agency=agency, category="gossip")), "invalid-payload"),
        "unknown field": (live.envelope(concern("ref-6", agency=agency, mood="sad")), "invalid-payload"),
        "bad nhs number": (
            live.envelope(concern("ref-7", agency=agency, subject={"nhs_number": "1234567890"})),
            "invalid-payload",
        ),
    }
    size = log_size(live)
    with live.client(live.token("agency", agency=agency)) as client:
        for name, (envelope, slug) in cases.items():
            assert_problem(client.post("/v1/records", json=envelope), 422, slug), name
    assert log_size(live) == size


def test_a_token_of_another_agency_gets_403(live):
    mine, theirs = live.agency(), live.agency()
    size = log_size(live)
    with live.client(live.token("agency", agency=mine)) as client:
        response = client.post("/v1/records", json=live.envelope(concern("ref-1", agency=theirs)))
    assert_problem(response, 403, "wrong-agency")
    assert log_size(live) == size


def test_no_unknown_revoked_or_expired_token_gets_401(live):
    agency = live.agency()
    envelope = live.envelope(concern("ref-1", agency=agency))
    revoked = live.token("agency", agency=agency)
    revoked_id = next(t.token_id for t in tokens.list_tokens(live.services.engine) if t.agency == agency)
    tokens.revoke(live.services.engine, revoked_id)
    expired = live.token("agency", agency=agency, expires_at=datetime.now(timezone.utc) + timedelta(seconds=1))
    with live.services.engine.begin() as conn:  # age it rather than sleep
        conn.execute(
            tokens.api_tokens.update()
            .where(tokens.api_tokens.c.token_hash == tokens.hash_token(expired))
            .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
        )
    size = log_size(live)
    for token in (None, "sgl_" + "A" * 43, "not-even-our-format", revoked, expired):
        with live.client(token) as client:
            response = client.post("/v1/records", json=envelope)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    with live.client() as client:
        basic = client.post("/v1/records", json=envelope, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert_problem(basic, 401, "unauthorized")
    assert log_size(live) == size


def test_too_large_bodies_get_413_before_anything_is_parsed(live):
    agency = live.agency()
    settings = live.services.settings
    with live.client(live.token("agency", agency=agency)) as client:
        oversized = b"{" * (settings.max_envelope_bytes + 1)
        assert_problem(client.post("/v1/records", content=oversized), 413, "payload-too-large")

        def chunks():  # chunked: no Content-Length to go by, so the limit is counted as it streams
            for _ in range(settings.max_envelope_bytes // 65536 + 2):
                yield b" " * 65536

        assert_problem(client.post("/v1/records", content=chunks()), 413, "payload-too-large")
        oversized_batch = b" " * (settings.max_batch_bytes + 1)
        assert_problem(client.post("/v1/records/batch", content=oversized_batch), 413, "payload-too-large")
        too_many = {"envelopes": [{}] * (settings.max_batch_envelopes + 1)}
        assert_problem(client.post("/v1/records/batch", json=too_many), 413, "payload-too-large")


def test_a_batch_answers_each_envelope_in_order_and_one_bad_one_stops_nothing(live):
    agency, other = live.agency(), live.agency()
    settings = live.services.settings
    good = [live.envelope(concern(f"ref-{i}", agency=agency)) for i in range(3)]
    huge = live.envelope(concern("ref-huge", agency=agency, action_taken="x" * 4000))
    huge["payload"] = base64.b64encode(b"x" * settings.max_envelope_bytes).decode()
    envelopes = [
        good[0],
        {"payloadType": "nope"},
        good[1],
        live.envelope(concern("ref-9", agency=other)),
        huge,
        good[2],
        good[0],
    ]
    with live.client(live.token("agency", agency=agency)) as client:
        response = client.post("/v1/records/batch", json={"envelopes": envelopes})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r.get("record_id") or r["status"] for r in results] == ["ref-0", 400, "ref-1", 403, 413, "ref-2", "ref-0"]
    assert results[6] == results[0]
    assert len({r["leaf_index"] for r in results if "leaf_index" in r}) == 3


@pytest.mark.parametrize(
    "body", [b'{"envelopes": {}}', b"[]", b'{"envelopes": [], "more": 1}', b"{", b'{"records": []}']
)
def test_a_batch_that_is_not_an_envelope_list_gets_400(live, body):
    agency = live.agency()
    with live.client(live.token("agency", agency=agency)) as client:
        response = client.post("/v1/records/batch", content=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_an_empty_batch_is_an_empty_answer(live):
    agency = live.agency()
    with live.client(live.token("agency", agency=agency)) as client:
        response = client.post("/v1/records/batch", json={"envelopes": []})
    assert response.status_code == 200 and response.json() == {"results": []}


def test_no_record_is_lost_or_duplicated_when_agencies_post_concurrently(live):
    from concurrent.futures import ThreadPoolExecutor

    agencies = [live.agency() for _ in range(3)]
    agency_tokens = {agency: live.token("agency", agency=agency) for agency in agencies}
    per_agency = 6
    work = [(agency, f"ref-{i}") for agency in agencies for i in range(per_agency)]
    envelopes = {item: live.envelope(concern(item[1], agency=item[0])) for item in work}

    def post(item):
        agency, _ = item
        with live.client(agency_tokens[agency]) as client:
            # Every envelope twice, racing itself: exactly one 201, the other 200 with the same receipt.
            first = client.post("/v1/records", json=envelopes[item])
            second = client.post("/v1/records", json=envelopes[item])
        return first, second

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, work + work))
    statuses = sorted(r.status_code for pair in answers for r in pair)
    assert statuses.count(201) == len(work) and statuses.count(200) == 3 * len(work)
    receipts = {}
    for pair in answers:
        for response in pair:
            body = response.json()
            receipts.setdefault((body["agency"], body["record_id"]), set()).add(body["leaf_index"])
    assert sorted(receipts) == sorted(work)
    assert all(len(indexes) == 1 for indexes in receipts.values())
    with live.services.engine.connect() as conn:
        indexes = [i for (i,) in conn.execute(select(leaves.c.leaf_index).order_by(leaves.c.leaf_index))]
        assert conn.execute(select(func.count()).select_from(leaves)).scalar() == len(indexes) == indexes[-1] + 1
    assert {index for (index,) in receipts.values()} <= set(indexes)
