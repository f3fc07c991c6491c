"""One problem shape everywhere (issue 16): for the same refused envelope, the HTTP error body, the
batch result and the ``ledger submit`` line are the same RFC 9457 object; administrators' mistakes
have their own types (a bad PEM is ``invalid-key``, not "not a DSSE envelope")."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.cli import main
from api.problems import TITLES
from tests.api_live import live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_records import assert_problem


def test_the_same_refusal_is_the_same_object_over_http_in_a_batch_and_from_submit(live, tmp_path, capsys):
    agency = live.agency()
    good = live.envelope(concern("shape-0", agency=agency))
    refused = [
        {**good, "payload": "!!"},  # not base64: 400
        live.envelope(concern("shape-1", agency=agency, category="bruise")),  # 422 invalid-payload
        live.envelope(concern("shape-2", agency=agency), key=Ed25519PrivateKey.generate()),  # 422 signature-rejected
    ]
    with live.client(live.token("agency", agency=agency)) as client:
        alone = [client.post("/v1/records", json=envelope).json() for envelope in refused]
        batch = client.post("/v1/records/batch", json={"envelopes": refused}).json()["results"]
    lines = tmp_path / "refused.jsonl"
    lines.write_text("".join(json.dumps(envelope) + "\n" for envelope in refused))
    database = ["--database-url", live.services.settings.database_url,
                "--checkpoint-key", live.services.settings.checkpoint_key]  # fmt: skip
    assert main(["submit", str(lines), *database]) == 1
    submitted = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alone == batch == submitted
    assert [p["status"] for p in alone] == [400, 422, 422]
    assert all(set(p) == {"type", "title", "status", "detail"} and p["title"] == TITLES[p["type"].rsplit("/")[-1]]
               for p in alone)  # fmt: skip


@pytest.mark.parametrize(
    ("pem", "words"),
    [
        ("not a key at all", "not a PEM SubjectPublicKeyInfo"),
        (generate_private_key(SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(), "not an Ed25519 key"),
    ],
    ids=["junk", "an EC key"],
)  # fmt: skip
def test_a_bad_pem_at_the_admin_endpoints_is_invalid_key(live, pem, words):
    agency = live.agency()
    size = live.stored_events()
    with live.client(live.token("admin")) as client:
        for path, body in (
            ("/v1/admin/agencies", {"id": "shape-school", "kind": "school", "name": "Fictional", "public_key": pem, "serves": ["309"]}),
            (f"/v1/admin/agencies/{agency}/keys", {"public_key": pem, "override": "Fictional: testing a bad key."}),
        ):
            problem = assert_problem(client.post(path, json=body), 400, "invalid-key")
            assert problem["title"] == "The key is not a usable Ed25519 key" and words in problem["detail"], path
        malformed = client.post("/v1/admin/agencies", content=b'{"id": ', headers={"content-type": "application/json"})
        assert_problem(malformed, 400, "malformed-request")
    assert live.stored_events() == size
