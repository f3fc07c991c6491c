"""Practitioners (and inquiries) read a child's chronology and risk prompts; practitioners record
decisions on prompts, confirm identity links, review possible matches and read what their council
is told (notifications).

Each handler translates the query or body into one use case (api/usecases/practitioners.py), which
decides need to know and appends the access entry before the answer leaves. Handlers are plain
``def``: the ledger and the queries are synchronous and run in the thread pool.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api import problems
from api.deps import (
    FREE_TEXT,
    INSTANT,
    ChildQuery,
    DecidingPrincipal,
    LinkingPrincipal,
    ReaderPrincipal,
    ServicesDep,
    StrictJSONRoute,
    allowed_to,
    parse_moment,
)
from api.schemas import ChronologyOut, DecisionIn, DecisionOut, LinkIn, LinkOut, MatchesOut, RiskOut
from api.usecases.children import Look
from api.tokens import Principal
from api.usecases.child_search import NameQuery
from api.usecases.practitioners import ChronologyFilter
from domain.agencies import AGENCY_ID_PATTERN
from domain.entries import format_time
from domain.records import CATEGORIES

router = APIRouter(prefix="/v1", tags=["practitioners"], route_class=StrictJSONRoute)

Category = Literal[CATEGORIES]  # type: ignore[valid-type]

AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        json_schema_extra=INSTANT,
        description="RFC 3339 date-time: the view as known then (recorded_at <= as_of); default now",
        examples=["2026-03-01T12:00:00Z"],
    ),
]
BreakGlass = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=1000,
        json_schema_extra=FREE_TEXT,
        description="a practitioner's reason to read a child outside their council; logged and flagged",
        examples=["Out-of-hours referral: child presented at A&E in our area"],
    ),
]
READ_ERRORS = problems.responses(400, 401, 403, 404)
NotifiedPrincipal = Annotated[Principal, Depends(allowed_to("read_notifications"))]


@router.get("/chronology", response_model=ChronologyOut, responses=READ_ERRORS)
def get_chronology(
    principal: ReaderPrincipal,
    services: ServicesDep,
    selector: ChildQuery,
    as_of: AsOf = None,
    break_glass: BreakGlass = None,
    source_agency: Annotated[
        str | None, Query(pattern=AGENCY_ID_PATTERN, description="only this agency's records")
    ] = None,
    category: Annotated[Category | None, Query(description="only this category")] = None,
    date_from: Annotated[date | None, Query(description="occurred on or after (YYYY-MM-DD)")] = None,
    date_to: Annotated[date | None, Query(description="occurred on or before (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="entries to skip")] = 0,
) -> JSONResponse:
    """A child's multi-agency chronology in the order things happened, as known at ``as_of``."""
    look = Look(selector, parse_moment(as_of, "as_of"), break_glass)
    narrow = ChronologyFilter(source_agency, category, date_from, date_to, limit, offset)
    return JSONResponse(services.practitioners.chronology(principal, look, narrow))


@router.get("/risk", response_model=RiskOut, responses=READ_ERRORS)
def get_risk(
    principal: ReaderPrincipal,
    services: ServicesDep,
    selector: ChildQuery,
    as_of: AsOf = None,
    break_glass: BreakGlass = None,
) -> JSONResponse:
    """The risk prompts the rules raise over a child's chronology as known at ``as_of``, with decisions."""
    look = Look(selector, parse_moment(as_of, "as_of"), break_glass)
    return JSONResponse(services.practitioners.risk(principal, look))


@router.get("/identity/matches", response_model=MatchesOut, responses=READ_ERRORS)
def get_possible_matches(
    principal: ReaderPrincipal,
    services: ServicesDep,
    selector: ChildQuery,
    as_of: AsOf = None,
    break_glass: BreakGlass = None,
) -> JSONResponse:
    """Children whose demographics resemble this child's, with reasons and their latest records, as
    known at ``as_of``: for a person to confirm."""
    look = Look(selector, parse_moment(as_of, "as_of"), break_glass)
    return JSONResponse(services.practitioners.matches(principal, look))


class CandidateOut(BaseModel):
    """A child whose records state the date of birth and a name like the one asked, with why."""

    child: dict = Field(description="the child's id and identifiers (SPEC section 2 shape)")
    stated_name: str = Field(description="the name as the most similar record states it")
    date_of_birth: str
    similarity: float = Field(description="Jaro-Winkler similarity of the names, 0 to 1")
    reasons: list[str] = Field(description='e.g. "family name and date of birth match exactly; given name '
                                           'similar (Jaro-Winkler 0.93)"')  # fmt: skip


class ChildSearchOut(BaseModel):
    """Candidates for a search by name and date of birth that the reader may see, most similar first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "query": {"given_name": "Larke", "family_name": "Samplewell", "date_of_birth": "2026-03-09"},
                    "candidates": [
                        {"child": {"id": "4c1f7d2e-0a9b-5c8d-9e7f-6a5b4c3d2e1f",
                                   "identifiers": [{"nhs_number": "9995260182"}]},
                         "stated_name": "Lark Samplewell", "date_of_birth": "2026-03-09", "similarity": 0.987,
                         "reasons": ["family name and date of birth match exactly; given name similar "
                                     "(Jaro-Winkler 0.97)"]},
                    ],
                    "truncated": False,
                }  # fmt: skip
            ]
        }
    )

    query: dict[str, str]
    candidates: list[CandidateOut]
    truncated: bool = Field(description="more candidates than shown: narrow the search")


Name = Annotated[str | None, Query(max_length=200, description="as stated on the child's records; "
                                                               "accents, case and punctuation ignored")]  # fmt: skip


@router.get("/children/search", response_model=ChildSearchOut, responses=problems.responses(400, 401, 403))
def search_children(
    principal: ReaderPrincipal,
    services: ServicesDep,
    date_of_birth: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD, required",
                                               examples=["2026-03-09"])] = None,  # fmt: skip
    given_name: Name = None,
    family_name: Name = None,
) -> JSONResponse:
    """Find a child by name and date of birth: candidates your council may read (inquiries: any),
    each with why it matched. Every search is an access entry (read ``search``) with its terms;
    a name alone, without a date of birth, is refused (400)."""
    query = NameQuery.parse(given_name, family_name, date_of_birth)
    return JSONResponse(services.practitioners.search(principal, query).to_dict())


@router.post(
    "/risk/decisions",
    status_code=201,
    response_model=DecisionOut,
    responses=problems.responses(400, 401, 403, 404, 413, 422),
)
def post_decision(principal: DecidingPrincipal, services: ServicesDep, decision: DecisionIn) -> JSONResponse:
    """Record a decision on a prompt raised now for a child of your council (a log entry)."""
    receipt = services.practitioners.decide(
        principal, decision.child, decision.prompt_id, decision.decision, decision.reason
    )
    body = {
        "decision_id": receipt.decision_id,
        "prompt_id": receipt.prompt_id,
        "decision": receipt.decision,
        "decided_at": format_time(receipt.decided_at),
    }
    return JSONResponse(body, status_code=201)


@router.post(
    "/identity/links",
    status_code=201,
    response_model=LinkOut,
    responses=problems.responses(400, 401, 403, 404, 413, 422),
)
def post_link(
    principal: LinkingPrincipal, services: ServicesDep, link: LinkIn, break_glass: BreakGlass = None
) -> JSONResponse:
    """Confirm that identifiers are one child (a log entry). At least one of them must already name
    a child of your council; joining a child of another council needs ``break_glass=<reason>``, like
    reading it, and is flagged. The answer never lists identifiers of a child you could not read."""
    identifiers = [item.model_dump(exclude_none=True) for item in link.identifiers]
    answer = services.practitioners.link(principal, identifiers, link.reason, break_glass)
    return JSONResponse(answer, status_code=201)


class NotificationOut(BaseModel):
    """One thing a council is told; fields that do not apply to its ``kind`` are null."""

    kind: Literal["new_council", "cross_council_link", "break_glass_read"]
    at: str
    leaf_index: int
    child: str
    councils: list[str] = Field(description="new_council: the new councils; cross_council_link: every council "
                                            "involved; break_glass_read: the reader's council")  # fmt: skip
    agency: str | None
    record_id: str | None
    link_id: str | None
    who: str | None = Field(description="the reader's or linker's holder (or token id)")
    read: str | None
    reason: str | None


class NotificationsOut(BaseModel):
    """A council's notifications, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "council": "309",
                    "limit": 100,
                    "offset": 0,
                    "notifications": [
                        {"kind": "break_glass_read", "at": "2026-03-01T12:07:00.000000Z", "leaf_index": 812,
                         "child": "4c1f7d2e-0a9b-5c8d-9e7f-6a5b4c3d2e1f", "councils": ["310"], "agency": None,
                         "record_id": None, "link_id": None, "who": "Alex Other (fictional)", "read": "chronology",
                         "reason": "Out-of-hours referral: child presented at A&E in our area"},
                        {"kind": "new_council", "at": "2026-02-27T09:30:00.000000Z", "leaf_index": 640,
                         "child": "4c1f7d2e-0a9b-5c8d-9e7f-6a5b4c3d2e1f", "councils": ["310"],
                         "agency": "northshire-police", "record_id": "NP-24-0311", "link_id": None, "who": None,
                         "read": None, "reason": None},
                    ],
                }  # fmt: skip
            ]
        }
    )

    council: str
    limit: int
    offset: int
    notifications: list[NotificationOut]


@router.get("/notifications", response_model=NotificationsOut, responses=problems.responses(400, 401, 403))
def get_notifications(
    principal: NotifiedPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="notifications to skip")] = 0,
) -> JSONResponse:
    """Your council's notifications, newest first: records that gave its children another council,
    links joining its children with another council's, and break-glass reads of its children."""
    return JSONResponse(services.practitioners.notifications(principal, limit, offset))
