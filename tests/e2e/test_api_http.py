"""The HTTP boundary itself: one problem shape for every error, security headers, no stack trace or
record content in answers or logs, and an OpenAPI document complete with examples."""

from __future__ import annotations

import logging

import pytest

from api.problems import STATUS_OF, TITLES, TYPE_BASE, from_ledger_error, status_of
from domain import errors
from tests.api_live import fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_records import assert_problem
from tests.e2e.test_api_roles import PUBLIC

SECRET_SUMMARY = "Fictional secret: the child said the words nobody else heard."


def test_every_domain_refusal_has_a_status_and_a_title():
    leaves = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.LedgerError)]
    for cls in leaves:
        if cls is errors.LedgerError:
            continue
        special = {errors.IntegrityFailure: (1, "why"), errors.ReadModelStalled: ("chronology", 7, "ValueError")}
        error = cls(*special.get(cls, ("why",)))
        assert 400 <= status_of(error) < 600
        problem = from_ledger_error(error)
        assert problem["type"] == TYPE_BASE + error.slug and problem["title"] == TITLES[error.slug]
    assert all(cls.slug in TITLES for cls in STATUS_OF)
    assert status_of(errors.LedgerError("store busy")) == 503


def test_security_headers_on_answers_and_on_errors(live):
    with live.client(live.token("inquiry")) as client:
        # Entries without an end hold what the log holds now; a 401 or a 404 is never kept either.
        for response in (client.get("/v1/log/entries"), client.get("/v1/nowhere"), live.client().get("/v1/log/key")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-frame-options"] == "DENY"
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert response.headers["referrer-policy"] == "no-referrer"


def test_routing_errors_are_problems_too(live):
    with live.client(live.token("inquiry")) as client:
        assert_problem(client.get("/v1/nowhere"), 404, "not-found")
        not_allowed = client.delete("/v1/log/checkpoint")
        assert_problem(not_allowed, 405, "method-not-allowed")
        assert "GET" in not_allowed.headers["allow"]


def test_an_unexpected_failure_is_a_bare_500_with_no_detail_in_answer_or_log(live, monkeypatch, caplog):
    import api.usecases.practitioners as practitioners

    agency = live.agency()
    nhs = fresh_nhs_number()
    live.services.submit([live.envelope(concern("S-1", agency=agency, subject={"nhs_number": nhs},
                                                summary=SECRET_SUMMARY))], agency)  # fmt: skip

    def broken(*_args, **_kwargs):
        raise RuntimeError(f"database said: {SECRET_SUMMARY}")

    monkeypatch.setattr(practitioners, "chronology", broken)
    token = live.token("inquiry")
    before = live.stored_events()
    with caplog.at_level(logging.INFO, logger="ledger"):
        with live.client(token) as client:
            response = client.get("/v1/chronology", params={"nhs_number": nhs})
    body = assert_problem(response, 500, "internal-error")
    assert SECRET_SUMMARY not in response.text and "Traceback" not in body["detail"]
    assert "RuntimeError" in caplog.text  # the operator learns what and where ...
    assert SECRET_SUMMARY not in caplog.text  # ... but not the message, which may quote records
    assert live.stored_events() == before  # a read that failed is not logged as shown


def test_request_log_lines_carry_no_query_string_token_or_body(live, caplog):
    agency = live.agency()
    nhs = fresh_nhs_number()
    token = live.token("agency", agency=agency)
    reader = live.token("inquiry")
    with caplog.at_level(logging.INFO, logger="ledger"):
        with live.client(token) as client:
            client.post("/v1/records", json=live.envelope(concern("L-1", agency=agency, subject={"nhs_number": nhs},
                                                                 summary=SECRET_SUMMARY)))  # fmt: skip
        with live.client(reader) as client:
            client.get("/v1/chronology", params={"nhs_number": nhs})
    assert "POST /v1/records 201" in caplog.text and "GET /v1/chronology 200" in caplog.text
    for secret in (nhs, token, reader, SECRET_SUMMARY, "Bearer"):
        assert secret not in caplog.text


def test_the_openapi_document_is_complete_with_examples(live):
    with live.client() as client:
        document = client.get("/v1/openapi.json").json()
    schemas = document["components"]["schemas"]

    def has_example(schema: dict) -> bool:
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        if "items" in schema and has_example(schema["items"]):
            return True
        return "example" in schema or "examples" in schema

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            if (method.upper(), path) in PUBLIC:  # says so: an empty security requirement, and no 401
                assert operation.get("security") == [] and "401" not in responses, where
            else:
                assert operation.get("security") == [{"bearer": []}], where
                assert "401" in responses, where
            for status, response in responses.items():
                for media, content in response.get("content", {}).items():
                    if status.startswith("2"):
                        assert "example" in content or has_example(content.get("schema", {})), where
                    else:
                        assert media == "application/problem+json", where
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                assert "example" in body or has_example(body["schema"]), where
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), f"{where} {parameter['name']}"


@pytest.mark.parametrize("content_length", ["abc", "-1"])
def test_a_nonsense_content_length_is_refused(live, content_length):
    import socket
    from urllib.parse import urlsplit

    host, port = urlsplit(live.base_url).hostname, urlsplit(live.base_url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Length: {content_length}\r\n\r\n".encode())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
