"""Standard DSSE clients work first time (issue 16): envelopes made by securesystemslib and by
in-toto, whose keyid is their own and not SPEC's SHA-256 of the raw key, are taken over real HTTP
on both backends; the entry keeps their keyid as sent and records SPEC's keyid of the key that
verified; the client library verifies what the ledger stored; the log verifies offline; and a key
the agency does not hold, or has revoked, is refused whatever the keyid says."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from in_toto.models.metadata import Envelope as InTotoEnvelope
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from api.cli import main
from domain import envelope as dsse
from domain.keystatements import sign_statement
from domain.entries import decode_entry
from domain.errors import SignatureRejected
from tests.api_live import Live, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_records import assert_problem


def sslib_envelope(payload: bytes, key: Ed25519PrivateKey) -> dict:
    """What securesystemslib's DSSE Envelope.sign makes with an Ed25519 CryptoSigner."""
    envelope = SslibEnvelope(payload, dsse.PAYLOAD_TYPE, {})
    envelope.sign(CryptoSigner(key))
    return envelope.to_dict()


def in_toto_envelope(payload: bytes, key: Ed25519PrivateKey, keyid: str | None = None) -> dict:
    """What in-toto's DSSE Envelope makes; in-toto lets the signer name its key as it likes."""
    public = SSlibKey.from_crypto(key.public_key(), keyid=keyid)
    envelope = InTotoEnvelope(payload=payload, payload_type=dsse.PAYLOAD_TYPE, signatures={})
    envelope.create_signature(CryptoSigner(key, public))
    return envelope.to_dict()


def stored_entry(live: Live, index: int) -> dict:
    """Entry ``index`` as an inquiry fetches it over HTTP, decoded."""
    with live.client(live.token("inquiry")) as client:
        answer = client.get("/v1/log/entries", params={"start": index, "end": index + 1})
    assert answer.status_code == 200, answer.text
    (line,) = answer.text.splitlines()
    return decode_entry(base64.b64decode(json.loads(line)["entry"]))


def post(live: Live, agency: str, envelope: dict):
    with live.client(live.token("agency", agency=agency)) as client:
        return client.post("/v1/records", json=envelope)


@pytest.mark.parametrize("client", ["securesystemslib", "in-toto", "in-toto with its own keyid"])
def test_a_standard_client_s_envelope_is_taken_and_round_trips(live, client):
    agency = live.agency()
    key = live.keys[agency]
    payload = json.dumps(concern(f"std-{client}", agency=agency)).encode()
    if client == "securesystemslib":
        envelope = sslib_envelope(payload, key)
    else:
        envelope = in_toto_envelope(payload, key, "police-laptop-7" if "own" in client else None)
    sent_keyid = envelope["signatures"][0]["keyid"]
    spec_keyid = dsse.key_id(key.public_key())
    assert sent_keyid != spec_keyid  # the very case of the issue: the client's own key id

    answer = post(live, agency, envelope)
    assert answer.status_code == 201, answer.text
    entry = stored_entry(live, answer.json()["leaf_index"])
    assert entry["keyid"] == spec_keyid  # SPEC's keyid of the key that verified
    assert entry["envelope"] == envelope  # every string as sent, the client's keyid included
    # The client library verifies the envelope the ledger stored, with the key it knows.
    back = SslibEnvelope.from_dict(json.loads(json.dumps(entry["envelope"])))
    assert back.payload == payload
    assert set(back.verify([SSlibKey.from_crypto(key.public_key(), keyid=sent_keyid)], 1)) == {sent_keyid}
    assert post(live, agency, envelope).status_code == 200  # sent again: the same receipt


@pytest.mark.parametrize("keyid", ["absent", "empty"])
def test_an_envelope_with_no_keyid_is_taken_and_kept_as_sent(live, keyid):
    agency = live.agency()
    envelope = live.envelope(concern(f"nokey-{keyid}", agency=agency))
    if keyid == "absent":
        del envelope["signatures"][0]["keyid"]
    else:
        envelope["signatures"][0]["keyid"] = ""
    answer = post(live, agency, envelope)
    assert answer.status_code == 201, answer.text
    entry = stored_entry(live, answer.json()["leaf_index"])
    assert entry["envelope"]["signatures"] == envelope["signatures"]  # no keyid invented
    assert entry["keyid"] == dsse.key_id(live.keys[agency].public_key())


def test_a_stranger_s_key_is_refused_naming_the_keyids_seen_and_the_rule(live):
    agency = live.agency()
    stranger = Ed25519PrivateKey.generate()
    envelope = sslib_envelope(json.dumps(concern("stranger", agency=agency)).encode(), stranger)
    size = live.stored_events()
    problem = assert_problem(post(live, agency, envelope), 422, "signature-rejected")
    detail = problem["detail"]
    assert envelope["signatures"][0]["keyid"] in detail  # what it was given
    assert "SHA-256 of the raw 32-byte Ed25519 public key" in detail  # the rule it expected
    assert dsse.key_id(live.keys[agency].public_key()) in detail and agency in detail  # what it tried
    assert live.stored_events() == size


def test_a_revoked_key_cannot_sign_by_leaving_its_keyid_out(services, registered, agency_key):
    """The fallback tries current keys only: a revoked key gains nothing from a wrong or absent hint."""
    replacement = Ed25519PrivateKey.generate()
    services.ledger.add_key(registered, replacement.public_key(), by="cli",
                            statement=sign_statement(registered, replacement.public_key(), agency_key))
    services.ledger.revoke_key(registered, dsse.key_id(agency_key.public_key()), "laptop lost (fictional)", by="cli")
    signed = [sslib_envelope(json.dumps(concern(f"rev-{i}")).encode(), agency_key) for i in range(2)]
    del signed[1]["signatures"][0]["keyid"]
    for refusal in services.submit(signed):
        assert isinstance(refusal, SignatureRejected) and "no signature verifies with a current key" in str(refusal)
    (accepted,) = services.submit([sslib_envelope(json.dumps(concern("rev-new")).encode(), replacement)])
    assert not isinstance(accepted, Exception)


def test_a_log_of_standard_clients_envelopes_verifies_offline_and_live(services, registered, agency_key, tmp_path, capsys):
    payloads = [json.dumps(concern(f"mix-{i}")).encode() for i in range(4)]
    envelopes = [sslib_envelope(payloads[0], agency_key), in_toto_envelope(payloads[1], agency_key, "k-1"),
                 dsse.sign(payloads[2], agency_key), dsse.sign(payloads[3], agency_key)]  # fmt: skip
    del envelopes[3]["signatures"][0]["keyid"]
    assert not any(isinstance(result, Exception) for result in services.submit(envelopes))
    database = ["--database-url", services.settings.database_url, "--checkpoint-key", services.settings.checkpoint_key]
    out = tmp_path / "bundle"
    assert main(["export", "--out", str(out), *database]) == 0
    assert main(["verify", str(out), "--processes", "0"]) == 0
    assert main(["verify", *database, "--processes", "0"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("verified 7 entries") == 2, printed  # two of the agency, four records, the export's own look


POOL = [Ed25519PrivateKey.generate() for _ in range(10)]


@settings(max_examples=200, deadline=None)
@given(
    held=st.integers(1, dsse.MAX_KEYS_TRIED),
    signer=st.integers(0, 9),
    hint=st.one_of(st.none(), st.just(""), st.text(st.characters(categories=["L", "N", "P"]), max_size=70),
                   st.integers(0, 9).map(lambda i: dsse.key_id(POOL[i].public_key()))),
)  # fmt: skip
def test_whatever_the_hint_the_envelope_verifies_exactly_when_a_current_key_signed_it(held, signer, hint):
    keys = {dsse.key_id(k.public_key()): k.public_key() for k in POOL[:held]}
    envelope = dsse.sign(b'{"fictional": true}', POOL[signer])
    if hint is None:
        del envelope["signatures"][0]["keyid"]
    else:
        envelope["signatures"][0]["keyid"] = hint
    parsed = dsse.parse_envelope(envelope)
    if signer < held:
        assert dsse.verify(parsed, keys) == dsse.key_id(POOL[signer].public_key())
    else:
        with pytest.raises(SignatureRejected):
            dsse.verify(parsed, keys)
