"""Agencies post signed records: one envelope, or a batch of up to 1000 (SPEC section 3).

The body is parsed strictly (UTF-8 JSON, no duplicate keys, no NaN) before the domain judges the
envelope, so what the ledger verifies is exactly what was sent. A token submits only for its own
agency. Each handler is a plain ``def``: the ledger is synchronous and runs in the thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api import problems
from api.deps import AgencyPrincipal, RequestBody, ServicesDep
from api.problems import Problem, ProblemBody
from api.schemas import dsse_envelope_schema
from domain.envelope import PAYLOAD_TYPE
from domain.errors import LedgerError
from domain.jsonstrict import parse_json
from domain.record_schema import record_schema

router = APIRouter(prefix="/v1/records", tags=["agencies"])

EXAMPLE_ENVELOPE = {
    "payloadType": "application/vnd.safeguarding-ledger.record.v1+json",
    "payload": (
        "eyJhZ2VuY3kiOiAibm9ydGhzaGlyZS1wb2xpY2UiLCAicmVjb3JkX2lkIjogIk5QLTIwMjYtMDAwMTIzIiwgInR5cGUiOiAiY29uY2Vybi"
        "IsICJzdWJqZWN0IjogeyJuaHNfbnVtYmVyIjogIjk0MzQ3NjU5MTkiLCAiZ2l2ZW5fbmFtZSI6ICJBZGEiLCAiZmFtaWx5X25hbWUiOiAi"
        "RXhhbXBsZSJ9LCAib2NjdXJyZWRfYXQiOiAiMjAyNi0wMy0wMVQwOTozMDowMCswMDowMCIsICJjYXRlZ29yeSI6ICJuZWdsZWN0Iiwg"
        "InN1bW1hcnkiOiAiRmljdGlvbmFsOiBjaGlsZCBzZWVuIGFsb25lIGF0IHRoZSBidXMgc3RvcCBhdCBuaWdodC4iLCAibG9jYWxfYXV0"
        "aG9yaXR5IjogIjMwOSJ9"
    ),
    "signatures": [
        {
            "keyid": "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c",
            "sig": "HIxvL2+6tZzXL4hu6IdLlvtybpFGfB8VS1Cm90d+Zmhq1LKcZp18uzRrw7qZzxd01EmJRYmDDfDrbxeAbZPoAA==",
        }
    ],
}

ENVELOPE_SCHEMA = dsse_envelope_schema(
    PAYLOAD_TYPE,
    "A DSSE v1 envelope (SPEC section 1) whose payload is a record (SPEC section 2)",
    {
        "description": "standard base64 of the record's exact JSON bytes; the record's JSON Schema is "
        "GET /v1/schema/record.v1.json (embedded here as contentSchema)",
        "contentMediaType": PAYLOAD_TYPE,
        "contentSchema": {k: v for k, v in record_schema().items() if k not in ("$schema", "$id")},
    },
    EXAMPLE_ENVELOPE,
)


class Receipt(BaseModel):
    """Proof that the ledger holds a record: where its entry sits in the log."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agency": "northshire-police",
                    "record_id": "NP-2026-000123",
                    "leaf_index": 41,
                    "leaf_hash": "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    "recorded_at": "2026-03-01T10:02:11.123456Z",
                }
            ]
        }
    )

    agency: str
    record_id: str
    leaf_index: int = Field(ge=0)
    leaf_hash: str = Field(description="standard base64 of the RFC 9162 leaf hash")
    recorded_at: str = Field(description="RFC 3339, UTC: when the ledger accepted the record")


class BatchResults(BaseModel):
    """One result per envelope, in request order: a receipt, or the problem that refused it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {
                            "agency": "northshire-police",
                            "record_id": "NP-2026-000123",
                            "leaf_index": 41,
                            "leaf_hash": "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                            "recorded_at": "2026-03-01T10:02:11.123456Z",
                        },
                        {
                            "type": "https://safeguarding-ledger.example/problems/signature-rejected",
                            "title": "The signature or signing key is refused",
                            "status": 422,
                            "detail": "the signature does not verify",
                        },
                    ]
                }
            ]
        }
    )

    results: list[Receipt | ProblemBody]


@router.post(
    "",
    summary="Submit one signed record",
    status_code=201,
    response_model=Receipt,
    responses={
        200: {"model": Receipt, "description": "the identical envelope was already recorded: the same receipt"},
        201: {"description": "recorded"},
        **problems.responses(400, 401, 403, 409, 413, 422),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": ENVELOPE_SCHEMA}}},
        "externalDocs": {"description": "the record payload's JSON Schema", "url": "/v1/schema/record.v1.json"},
    },
)
def submit_record(principal: AgencyPrincipal, services: ServicesDep, body: RequestBody) -> JSONResponse:
    """Append one DSSE envelope for the token's agency; 201 with a receipt, 200 if already held."""
    receipt, duplicate = services.agencies.submit(principal, parse_json(body))
    return JSONResponse(receipt, status_code=200 if duplicate else 201)


@router.post(
    "/batch",
    summary="Submit up to 1000 signed records",
    response_model=BatchResults,
    responses=problems.responses(400, 401, 403, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["envelopes"],
                        "additionalProperties": False,
                        "properties": {
                            "envelopes": {
                                "type": "array",
                                "description": "up to 1000 DSSE envelopes (413 beyond); each is judged on its "
                                "own, so one that is not an envelope gets a problem in its place",
                                "items": {"description": ENVELOPE_SCHEMA["description"], "example": EXAMPLE_ENVELOPE},
                            }
                        },
                        "example": {"envelopes": [EXAMPLE_ENVELOPE]},
                    }
                }
            },
        }
    },
)
def submit_batch(principal: AgencyPrincipal, services: ServicesDep, body: RequestBody) -> JSONResponse:
    """Judge each envelope on its own: one bad envelope does not stop the others."""
    data = parse_json(body)
    if not isinstance(data, dict) or set(data) != {"envelopes"} or not isinstance(data["envelopes"], list):
        raise Problem(400, "malformed-request", 'the body must be {"envelopes": [...]} and nothing else')
    outcomes = services.agencies.submit_batch(principal, data["envelopes"])
    results = [problems.from_ledger_error(o) if isinstance(o, LedgerError) else o[0] for o in outcomes]
    return JSONResponse({"results": results})
