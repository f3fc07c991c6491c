"""Inquiries replay the log and see who read a child's records.

Entries carry record content, so only inquiry tokens may fetch them; an inquiry verifies them
against checkpoints and proofs from api/routers/log.py. The reads of a child are the access entries
(domain/access.py) that every chronology or risk read appended to the same log.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from pydantic import BaseModel, ConfigDict

from api import problems
from api.deps import ChildQuery, InquiryPrincipal, ServicesDep, WritesDep
from projections.access import child_ids, reads_of
from projections.checkpoints import entries
from projections.integrity import tree_size

router = APIRouter(prefix="/v1", tags=["inquiry"])

MAX_ENTRIES = 10_000
DEFAULT_ENTRIES = 1_000
JSON_LINES = "application/jsonl"


class AccessOut(BaseModel):
    """The logged reads of a child."""

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
                            "leaf_index": 57,
                        }
                    ],
                }
            ]
        }
    )

    child: dict
    reads: list[dict]


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
    _: InquiryPrincipal,
    services: ServicesDep,
    start: Annotated[int, Query(ge=0, le=2**63 - 1, description="first leaf index", examples=[0])] = 0,
    end: Annotated[
        int | None,
        Query(ge=0, le=2**63 - 1, description="one past the last; default min(start + 1000, size)", examples=[1000]),
    ] = None,
) -> Response:
    """Log entries ``[start, end)``, at most 10,000 a request (``end`` is cut to that and to the size)."""
    with services.reader.connect() as conn:
        size = tree_size(conn)
        stop = min(start + DEFAULT_ENTRIES, size) if end is None else min(end, start + MAX_ENTRIES, size)
        if start > size:
            raise problems.Problem(404, "not-found", f"the log has {size} entries")
        if stop < start:
            raise problems.Problem(400, "malformed-request", "end is before start")
        found = entries(conn, services.ledger, start, stop)
    lines = (
        json.dumps({"index": start + offset, "entry": base64.b64encode(entry).decode("ascii")}) + "\n"
        for offset, entry in enumerate(found)
    )
    return Response("".join(lines), media_type=JSON_LINES)


@router.get("/access", response_model=AccessOut, responses=problems.responses(400, 401, 403, 404))
def get_reads(
    _: InquiryPrincipal,
    services: ServicesDep,
    writes: WritesDep,
    selector: ChildQuery,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="reads to skip")] = 0,
) -> dict:
    """Who read this child's records, when, what and why, oldest first, each with its leaf index."""
    writes.exclusive(services.runner.catch_up)  # the reads logged a moment ago are in the answer too
    with services.reader.connect() as conn:
        child = selector.find(conn)
        found = reads_of(conn, child_ids(conn, child), limit=limit, offset=offset)
    return {"child": child.to_dict(), "reads": [read.as_json() for read in found]}
