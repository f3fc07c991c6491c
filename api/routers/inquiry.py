"""Inquiries replay the log; inquiries and the child's council see who looked a child up.

Entries carry record content, so only inquiry tokens may fetch them (each fetch is itself an access
entry); an inquiry verifies them against checkpoints and proofs from api/routers/log.py. The
lookups of a child are the access entries (domain/access.py) that every lookup appended to the same
log; reading them is a read of the child, with its need to know and its own access entry
(api/usecases/inquiry.py). One child's evidence bundle (``GET /v1/bundle``) is for inquiries
alone: that child's entries with their proofs, the same bundle ``ledger export --child`` writes.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from pydantic import BaseModel, ConfigDict, Field

from api import problems
from api.deps import AccessPrincipal, ChildQuery, EntriesPrincipal, ServicesDep, parse_moment
from api.routers.practitioners import AsOf, BreakGlass

router = APIRouter(prefix="/v1", tags=["inquiry"])

JSON_LINES = "application/jsonl"


class AccessOut(BaseModel):
    """The logged lookups of a child: allowed reads and refused attempts, each naming its holder."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "child": {
                        "id": "0f8fad5b-d9cb-569f-a165-70867728950e",
                        "identifiers": [{"nhs_number": "9434765919"}],
                    },
                    "reads": [
                        {
                            "at": "2026-03-01T12:00:00.000000Z",
                            "holder": "Sam Example (fictional), Eastshire duty team",
                            "token_id": "3f9c2a1b7d6e5f40",
                            "role": "practitioner",
                            "agency": None,
                            "local_authority": "310",
                            "child": "0f8fad5b-d9cb-569f-a165-70867728950e",
                            "read": "chronology",
                            "query": {"nhs_number": "9434765919"},
                            "as_of": None,
                            "break_glass": True,
                            "reason": "Out-of-hours referral: child presented at A&E in our area",
                            "outcome": "allowed",
                            "leaf_index": 57,
                        }
                    ],
                }
            ]
        }
    )

    child: dict
    reads: list[dict]
    sharing_decisions: list[dict] = Field(default=[], description="practitioners' sharing decisions on the child")


EXAMPLE_LINE = '{"index": 0, "entry": "eyJhZ2VuY3kiOiJub3J0aHNoaXJlLXBvbGljZSIsImtpbmQiOiJhZ2VuY3lfcmVnaXN0ZXJlZCJ9"}\n'


@router.get(
    "/log/entries",
    response_class=Response,
    responses={
        200: {
            "description": "entries [start, end) as JSON lines: one {index, entry (base64 entry bytes)} per line",
            "content": {JSON_LINES: {"schema": {"type": "string"}, "example": EXAMPLE_LINE}},
        },
        **problems.responses(400, 401, 403, 404),
    },
)
def get_entries(
    principal: EntriesPrincipal,
    services: ServicesDep,
    start: Annotated[int, Query(ge=0, le=2**63 - 1, description="first leaf index", examples=[0])] = 0,
    end: Annotated[
        int | None,
        Query(ge=0, le=2**63 - 1, description="one past the last; default min(start + 1000, size)", examples=[1000]),
    ] = None,
) -> Response:
    """Log entries ``[start, end)``, at most 10,000 a request (``end`` is cut to that and to the size)."""
    lines = (
        json.dumps({"index": index, "entry": base64.b64encode(entry).decode("ascii")}) + "\n"
        for index, entry in services.inquiry.entries(principal, start, end)
    )
    return Response("".join(lines), media_type=JSON_LINES)


@router.get("/access", response_model=AccessOut, responses=problems.responses(400, 401, 403, 404))
def get_reads(
    principal: AccessPrincipal,
    services: ServicesDep,
    selector: ChildQuery,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="lookups to skip")] = 0,
    break_glass: BreakGlass = None,
) -> dict:
    """Who looked this child up, when, what, why and with what answer, oldest first, each with its
    leaf index: for inquiries, and for practitioners of a council that may read the child (404 as
    for a read otherwise). The request is itself an access entry."""
    return services.inquiry.access_history(principal, selector, limit, offset, break_glass)


class BundleOut(BaseModel):
    """One child's evidence bundle (docs/log-format.md): the manifest, the child's entries and the
    key history entries, each with its inclusion proof in the one checkpoint, and the vkey."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "manifest": {
                        "format": "safeguarding-ledger-child-bundle", "version": 1, "entry_format": 1,
                        "origin": "safeguarding-ledger.example/log",
                        "child": {"id": "0f8fad5b-d9cb-569f-a165-70867728950e",
                                  "ids": ["0f8fad5b-d9cb-569f-a165-70867728950e"],
                                  "identifiers": [{"nhs_number": "9434765919"}]},
                        "as_of": None, "checkpoint": {"size": 3, "root": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
                        "leaves": [0, 1, 2], "key_history": [0, 1],
                    },
                    "entries": [{"index": 2, "entry": "eyJ2IjoxfQ==", "leaf_hash": "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
                                 "proof": ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]}],
                    "checkpoint": "safeguarding-ledger.example/log\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— ...\n",
                    "vkey": "safeguarding-ledger.example/log+1a2b3c4d+AQ...",
                }
            ]
        }
    )  # fmt: skip

    manifest: dict
    entries: list[dict]
    checkpoint: str
    vkey: str


@router.get("/bundle", response_model=BundleOut, responses=problems.responses(400, 401, 403, 404, 503))
def get_bundle(principal: EntriesPrincipal, services: ServicesDep, selector: ChildQuery, as_of: AsOf = None) -> dict:
    """One child's evidence bundle, for inquiries: the child's records (as the identities joined to
    it at ``as_of`` name them), links, decisions and lookups, with the key history that checks their
    signatures, each proved in one signed checkpoint; verify it offline with ``ledger verify FILE``.
    The request is itself an access entry (read ``export``), which a bundle without ``as_of`` holds."""
    return services.inquiry.child_bundle(principal, selector, parse_moment(as_of, "as_of")).as_json()
