"""The server log cannot be forged from a request and never holds a token, a query string or record
content: not in the request line, not in the line of a request that failed (500 or 503), not in
uvicorn's own lines. Checked on a real ``ledger serve`` whose standard error is read back, on both
backends; the escaping rule itself is a property test.
"""

from __future__ import annotations

import codecs
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from api import tokens
from api.bootstrap import bootstrap
from api.log_safety import MAX_LOGGED, loggable, request_line
from domain import envelope as dsse
from tests.api_live import fresh_nhs_number
from tests.conftest import concern
from tests.served_process import ServedProcess, ledger_serve
from tests.e2e.test_api_records import assert_problem

#: Run in the server process before the CLI: the store fails every append with an error whose
#: message quotes the record, as a database error quoting the values of its INSERT would; a record
#: mentioning "outage" fails as an unreachable PostgreSQL would (503), any other as a bug (500).
FAILING_STORE = '''
import base64, json
import psycopg
from domain.ledger import Ledger

def _failing_submit_many(self, envelopes, acting_agency=None):
    texts = []
    for envelope in envelopes:
        data = envelope if isinstance(envelope, dict) else json.loads(envelope)
        texts.append(base64.b64decode(data["payload"]).decode("utf-8"))
    quoted = " ".join(texts)
    if "outage" in quoted:
        raise psycopg.OperationalError(f"server closed the connection while inserting {quoted}")
    raise RuntimeError(f"could not insert {quoted}")

Ledger.submit_many = _failing_submit_many
'''


@given(st.text(max_size=MAX_LOGGED))
def test_logged_text_is_one_printable_field_that_still_says_exactly_what_was_sent(text):
    logged = loggable(text)
    assert all("!" <= char <= "~" for char in logged)
    assert codecs.decode(logged, "unicode_escape") == text


@given(st.text(min_size=MAX_LOGGED + 1, max_size=MAX_LOGGED + 50))
def test_logged_text_is_cut_to_a_bounded_length(text):
    logged = loggable(text)
    assert logged.endswith("...") and codecs.decode(logged[:-3], "unicode_escape") == text[:MAX_LOGGED]


@given(st.text(max_size=40), st.text(max_size=200))
def test_a_request_line_is_two_fields_on_one_line_whatever_the_method_and_path(method, path):
    line = request_line({"method": method, "path": path, "query_string": b"nhs_number=9434765919"})
    assert "\n" not in line and "\r" not in line and line.count(" ") == 1
    assert "9434765919" not in line or "9434765919" in path


class ServedLedger:
    """A served ledger with an agency (its key and token) and a practitioner token, made in-process
    before the server starts."""

    def __init__(self, served: ServedProcess, agency: str, key: Ed25519PrivateKey, agency_token: str, reader: str):
        self.served, self.agency, self.key, self.agency_token, self.reader = served, agency, key, agency_token, reader


@pytest.fixture
def ledger(settings, tmp_path: Path) -> Iterator[ServedLedger]:
    services = bootstrap(settings)
    try:
        agency = f"agency-{fresh_nhs_number()}"
        key = Ed25519PrivateKey.generate()
        services.ledger.register_agency(agency, "police", "Fictional police", key.public_key(), serves=["309"], by="cli")
        services.runner.catch_up()
        agency_token = tokens.issue(services.engine, "agency", agency=agency)[0]
        reader = tokens.issue(services.engine, "practitioner", local_authority="309", holder="Sam")[0]
    finally:
        services.close()
    with ledger_serve(settings, tmp_path, preamble=FAILING_STORE) as served:
        yield ServedLedger(served, agency, key, agency_token, reader)


def _raw_request(served: ServedProcess, request: bytes) -> bytes:
    """Send bytes exactly as given (no client normalises the path) and read the whole answer."""
    address = urlsplit(served.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_path_cannot_forge_a_log_line_and_uvicorn_logs_no_token(ledger):
    served, secret = ledger.served, ledger.reader
    for path in ("/v1/x%0Aforged%20line", "/v1/y%0D%1B[31mred%E2%80%A8z%00"):
        request = f"GET {path} HTTP/1.1\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
        assert b" 404 " in _raw_request(served, request.encode()).split(b"\r\n", 1)[0]
    # A request uvicorn itself refuses (a header line without a colon), with a token in it twice.
    broken = f"GET /v1/log/key?token={secret} HTTP/1.1\r\nAuthorization: Bearer {secret}\r\nno colon here\r\n\r\n"
    assert b" 400 " in _raw_request(served, broken.encode()).split(b"\r\n", 1)[0]
    (forged,) = served.lines_about("GET", "/v1/x\\nforged\\x20line")
    (styled,) = served.lines_about("GET", "/v1/y\\r\\x1b[31mred\\u2028z\\x00")
    assert " 404 " in forged and " 404 " in styled
    log = served.log()
    lines = log.splitlines()
    assert [line for line in lines if "/v1/x" in line or "/v1/y" in line] == [forged, styled]
    assert not any("forged" in line and "/v1/x" not in line for line in lines), log
    assert "\x1b" not in log and "\u2028" not in log and "\x00" not in log and "\r" not in log
    assert secret not in log and "token=" not in log and "Traceback" not in log


def test_failed_requests_log_one_line_with_neither_token_nor_record_content(ledger):
    served = ledger.served
    nhs = fresh_nhs_number()
    subject = {"nhs_number": nhs, "given_name": "Ada", "family_name": "Example"}
    bug = concern("HYG-1", agency=ledger.agency, subject=subject, summary="Fictional: bruised knuckles after school.")
    outage = concern("HYG-2", agency=ledger.agency, subject=subject, summary="Fictional: outage while fostering.")
    with served.client(ledger.agency_token) as agency, served.client(ledger.reader) as reader:
        failed = agency.post("/v1/records", json=dsse.sign(json.dumps(bug).encode(), ledger.key))
        unavailable = agency.post("/v1/records", json=dsse.sign(json.dumps(outage).encode(), ledger.key))
        missing = reader.get("/v1/chronology", params={"nhs_number": nhs})
    assert_problem(failed, 500, "internal-error")
    assert_problem(unavailable, 503, "unavailable")
    assert unavailable.headers["retry-after"] == "5"
    assert_problem(missing, 404, "not-found")
    for response in (failed, unavailable):
        assert "bruised" not in response.text and "fostering" not in response.text and nhs not in response.text
    (chronology,) = served.lines_about("GET", "/v1/chronology")
    records = served.lines_about("POST", "/v1/records", at_least=2)
    log = served.log()
    assert len(records) == 2, log
    assert " 500 " in records[0] and "unhandled: RuntimeError at api/" in records[0]
    assert " 503 " in records[1] and "database unavailable: psycopg.OperationalError at api/" in records[1]
    assert "GET /v1/chronology 404 " in chronology and "?" not in chronology
    for leaked in ("bruised", "knuckles", "fostering", "Ada", "Example", "HYG-", nhs, ledger.agency_token,
                   ledger.reader, "nhs_number", "could not insert", "server closed", "Traceback"):  # fmt: skip
        assert leaked not in log, (leaked, log)
