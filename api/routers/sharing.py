"""Restricted records and sharing decisions (docs/records.md): a practitioner opens a restricted
record by breaking glass, an agency reads what it is told of that, a practitioner records a sharing
decision. Each handler is one use case of api/usecases/sharing.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api import problems
from api.deps import CHILD_PATTERN, FREE_TEXT, PRINTABLE_TEXT, ReaderPrincipal, ServicesDep, StrictJSONRoute, allowed_to
from api.tokens import Principal
from domain.agencies import AGENCY_ID_PATTERN
from domain.records import SHARING_DECISIONS
from domain.sharing import MAX_NAME, MAX_REASON

router = APIRouter(prefix="/v1", tags=["practitioners"], route_class=StrictJSONRoute)

BreakGlass = Annotated[str | None, Query(min_length=1, max_length=1000, json_schema_extra=FREE_TEXT,
                                         description="a practitioner's reason (without one: 403); the agency is told")]
SharingPrincipal = Annotated[Principal, Depends(allowed_to("share"))]
AgencyNotified = Annotated[Principal, Depends(allowed_to("read_agency_notifications"))]


EXAMPLE_CHILD = {"id": "0f8fad5b-d9cb-569f-a165-70867728950e", "identifiers": [{"nhs_number": "9434765919"}]}


class RestrictedOut(BaseModel):
    """One restricted record in full, and whether opening it was a (flagged) break-glass read."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "child": EXAMPLE_CHILD, "break_glass": True,
        "entry": {"record_id": "NH-2026-0042", "agency": "northshire-health", "type": "concern",
                  "category": "sexual_harm", "occurred_at": "2026-03-03T10:00:00+00:00",
                  "recorded_at": "2026-03-03T10:05:00.000000Z", "summary": "Fictional: clinic note.",
                  "status": "current", "leaf_index": 42, "restricted": True},
    }]})  # fmt: skip

    child: dict
    entry: dict
    break_glass: bool


@router.get(
    "/children/{child}/restricted/{agency}/{record_id}",
    response_model=RestrictedOut,
    responses=problems.responses(400, 401, 403, 404),
)
def get_restricted_record(
    principal: ReaderPrincipal,
    services: ServicesDep,
    child: Annotated[str, Path(pattern=CHILD_PATTERN, description="the child id the ledger gave")],
    agency: Annotated[str, Path(pattern=AGENCY_ID_PATTERN, max_length=64, description="the recording agency")],
    record_id: Annotated[str, Path(min_length=1, max_length=128, json_schema_extra=PRINTABLE_TEXT,
                                   description="the agency's own record id")],
    break_glass: BreakGlass = None,
) -> JSONResponse:
    """Open a restricted record of a child: for a practitioner, a break-glass read with a reason,
    logged, flagged and told to the recording agency; an inquiry sees it in full without one."""
    return JSONResponse(services.sharing.open_restricted(principal, child, agency, record_id, break_glass))


class AgencyNotificationsOut(BaseModel):
    """What the agency has been told, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "agency": "northshire-health", "limit": 100, "offset": 0,
        "notifications": [{"kind": "restricted_record_read", "at": "2026-03-04T09:00:00.000000Z", "leaf_index": 57,
                           "child": EXAMPLE_CHILD["id"], "record_id": "NH-2026-0042",
                           "who": "Sam Example (fictional)", "council": "309",
                           "reason": "Fictional: strategy meeting needs the clinic's note."}],
    }]})  # fmt: skip

    agency: str
    limit: int
    offset: int
    notifications: list[dict] = Field(description="kind, at, leaf_index, child, record_id, who, council, reason")


@router.get(
    "/agency/notifications", response_model=AgencyNotificationsOut, responses=problems.responses(400, 401, 403)
)
def get_agency_notifications(
    principal: AgencyNotified,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="notifications to skip")] = 0,
) -> JSONResponse:
    """Your agency's notifications, newest first: practitioners who broke glass to open its
    restricted records, with who, when and why."""
    return JSONResponse(services.sharing.agency_notifications(principal, limit, offset))


class SharingIn(BaseModel):
    """A practitioner's sharing decision about a child of their council."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "child": "0f8fad5b-d9cb-569f-a165-70867728950e", "decision": "shared",
            "recipient": "Northshire school DSL (fictional)", "reason": "Fictional: to plan support at school.",
        }],
            # A recipient exactly when shared (domain/sharing.py), as the schema can say it.
            "oneOf": [
                {"properties": {"decision": {"const": "shared"}, "recipient": {"type": "string"}},
                 "required": ["recipient"]},
                {"properties": {"decision": {"const": "not_shared"}, "recipient": {"type": "null"}}},
            ]},
    )  # fmt: skip

    child: str = Field(pattern=CHILD_PATTERN)
    decision: Literal[SHARING_DECISIONS]  # type: ignore[valid-type]
    # Their text rules are the domain's (domain/sharing.py): refused as 422, like a record's fields.
    recipient: str | None = Field(default=None, description="whom it was shared with; only when shared",
                                  min_length=1, max_length=MAX_NAME, json_schema_extra=PRINTABLE_TEXT)
    reason: str = Field(description=f"why; free text, 1 to {MAX_REASON} characters", min_length=1,
                        max_length=MAX_REASON, json_schema_extra=FREE_TEXT)


class SharingOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "decision_id": "5c7a1c3e-8d0b-4f6e-9a2d-1b3c4d5e6f70", "child": EXAMPLE_CHILD["id"], "decision": "shared",
        "recipient": "Northshire school DSL (fictional)", "recorded_at": "2026-03-04T09:30:00.000000Z",
    }]})  # fmt: skip

    decision_id: str
    child: str
    decision: str
    recipient: str | None
    recorded_at: str


@router.post(
    "/sharing/decisions",
    status_code=201,
    response_model=SharingOut,
    responses=problems.responses(400, 401, 403, 404, 413, 422),
)
def post_sharing_decision(principal: SharingPrincipal, services: ServicesDep, decision: SharingIn) -> JSONResponse:
    """Record that you shared information about a child of your council (with whom and why), or
    decided not to share (why): a log entry, shown in the chronology and the access history."""
    body = services.sharing.decide(principal, decision.child, decision.decision, decision.recipient, decision.reason)
    return JSONResponse(body, status_code=201)
