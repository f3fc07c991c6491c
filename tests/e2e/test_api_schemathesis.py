"""schemathesis against the served OpenAPI document, on a real server on 127.0.0.1.

Every operation gets generated requests (valid and invalid) with a token of the role it is for; no
answer may be a 5xx, and every answer must conform to the document: status code, content type,
headers and body schema. Bounded, so it stays a test and not a soak.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_live import live  # noqa: F401 - the fixture
from tests.e2e.test_api_roles import PUBLIC, TABLE

EXAMPLES = int(__import__("os").environ.get("API_FUZZ_EXAMPLES", "6"))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def role_tokens(live) -> dict[str, str]:
    agency = live.agency()
    return {
        "agency": live.token("agency", agency=agency),
        "practitioner": live.token("practitioner", local_authority="309"),
        "inquiry": live.token("inquiry"),
        "admin": live.token("admin"),
    }


@pytest.fixture(scope="module")
def api_schema(live):
    assert live.base_url.startswith("http://127.0.0.1:")
    return schemathesis.openapi.from_url(f"{live.base_url}/v1/openapi.json")


def token_for(path: str, role_tokens: dict[str, str]) -> str:
    """The role each operation is for, so generated requests get past authorisation."""
    if path.startswith("/v1/records"):
        return role_tokens["agency"]
    if path.startswith("/v1/admin"):
        return role_tokens["admin"]
    if path in ("/v1/access", "/v1/log/entries") or path.startswith("/v1/log"):
        return role_tokens["inquiry"]
    return role_tokens["practitioner"]


# schemathesis's own pytest plugin does not run under this pytest, so hypothesis drives each
# operation here; the operations are the role table's, which test_api_roles checks against the
# served document.
# A public operation with no parameter has nothing a request could get wrong: no negative case exists.
CASES = [
    pytest.param(operation, mode, id=f"{operation[0]} {operation[1]}-{mode}")
    for operation in sorted(TABLE)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (mode == GenerationMode.NEGATIVE and operation in PUBLIC)
]


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_the_api_conforms_to_its_openapi_document(api_schema, role_tokens, live, operation, mode):
    method, path = operation
    headers = {"Authorization": f"Bearer {token_for(path, role_tokens)}"}

    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case) -> None:
        case.call_and_validate(base_url=live.base_url, headers=headers, checks=CHECKS, timeout=30)

    exercise()
