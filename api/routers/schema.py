"""``GET /v1/schema/record.v1.json``: the record payload's JSON Schema, for integrators' tools.

No token is needed, and any token sent is ignored: the schema says what SPEC section 2 already says
in public, reveals nothing about any child or agency, and is most useful where no token is at hand
(an agency's CI checking its exports, an editor validating a file). It is made from the validator's
own rules (domain/record_schema.py), once per process, and the OpenAPI request body of
``POST /v1/records`` embeds it as the payload's ``contentSchema``.
"""

from __future__ import annotations

import json
from functools import lru_cache

from fastapi import APIRouter
from fastapi.responses import Response

from domain.record_schema import SCHEMA_ID, record_schema

router = APIRouter(prefix="/v1/schema", tags=["schema"])

SCHEMA_MEDIA_TYPE = "application/schema+json"
EXAMPLE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "type": "object",
    "required": ["agency", "record_id", "type"],
    "additionalProperties": False,
}


@lru_cache(maxsize=1)
def _schema_bytes() -> bytes:
    return json.dumps(record_schema(), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


@router.get(
    "/record.v1.json",
    summary="The record payload's JSON Schema (no token needed)",
    response_class=Response,
    responses={
        200: {
            "description": "a JSON Schema (draft 2020-12) of a version 1 record payload",
            "content": {SCHEMA_MEDIA_TYPE: {"schema": {"type": "object"}, "example": EXAMPLE}},
        }
    },
    openapi_extra={"security": []},  # public: see the module docstring
)
def get_record_schema() -> Response:
    """The JSON Schema of the record payload (SPEC section 2), generated from the ledger's validator."""
    return Response(_schema_bytes(), media_type=SCHEMA_MEDIA_TYPE)
