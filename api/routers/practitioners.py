"""Practitioners (and inquiries) read a child's chronology and risk prompts; practitioners record
decisions on prompts, confirm identity links and review possible matches.

Need to know: a practitioner reads a child whose records name their council as where the child
lives; any other child only with a ``break_glass`` reason, which the access entry records and flags.
Inquiries read everything. Every read that is allowed is appended to the log as an access entry
before the answer leaves; a refused read stores nothing. Handlers are plain ``def``: the ledger and
the queries are synchronous and run in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from api import problems
from api.deps import (
    ChildQuery,
    ChildSelector,
    PractitionerPrincipal,
    ReaderPrincipal,
    ServicesDep,
    WritesDep,
    parse_moment,
)
from api.problems import Problem
from api.schemas import ChronologyOut, DecisionIn, DecisionOut, LinkIn, LinkOut, MatchesOut, RiskOut
from api.tokens import Principal
from domain.access import log_access
from domain.decisions import record_decision
from domain.entries import format_time
from domain.errors import LedgerError, NotFound
from domain.links import link_identities
from domain.records import CATEGORIES
from projections.chronology import child_local_authorities, chronology
from projections.identity import Child
from projections.matching import possible_matches
from projections.risk import find_prompt, risk_prompts

router = APIRouter(prefix="/v1", tags=["practitioners"])

Category = Literal[CATEGORIES]  # type: ignore[valid-type]

AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        description="RFC 3339 date-time: the view as known then (recorded_at <= as_of); default now",
        examples=["2026-03-01T12:00:00Z"],
    ),
]
BreakGlass = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=1000,
        description="a practitioner's reason to read a child outside their council; logged and flagged",
        examples=["Out-of-hours referral: child presented at A&E in our area"],
    ),
]
READ_ERRORS = problems.responses(400, 401, 403, 404)


def _authorise(conn: Connection, principal: Principal, child: Child, break_glass: str | None) -> bool:
    """Whether the read is allowed only because of break glass; 403 when it is not allowed at all.

    Inquiries read every child. A practitioner reads children whose records name their council.
    """
    if principal.role != "practitioner" or principal.local_authority in child_local_authorities(conn, child.id):
        return False
    if break_glass is None:
        detail = "this child is not known to your council; give break_glass=<reason> if you must"
        raise Problem(403, "forbidden", detail)
    return True


def _logged_read(
    services: ServicesDep,
    writes: WritesDep,
    principal: Principal,
    selector: ChildSelector,
    break_glass: str | None,
    read: str,
    as_of: datetime | None,
    answer: Callable[[Connection, Child, Child | None], dict],
) -> dict:
    """Authorise a read of one child, compute ``answer(conn, current, shown)`` (``shown``: the child
    as at ``as_of``, None if not yet known then), append the access entry, and only then hand back
    the body; nothing is stored when the read is refused or fails."""
    with services.reader.connect() as conn:
        current = selector.find(conn)
        glass = _authorise(conn, principal, current, break_glass)
        shown = current if as_of is None else selector.resolve(conn, as_of)
        body = answer(conn, current, shown)
    writes.exclusive(
        lambda: log_access(
            services.ledger,
            token_id=principal.token_id,
            role=principal.role,
            agency=principal.agency,
            local_authority=principal.local_authority,
            child=(shown or current).id,
            read=read,
            query=selector.as_query(),
            as_of=as_of,
            break_glass=glass,
            reason=break_glass,
        )
    )
    return body


@router.get("/chronology", response_model=ChronologyOut, responses=READ_ERRORS)
def get_chronology(
    principal: ReaderPrincipal,
    services: ServicesDep,
    writes: WritesDep,
    selector: ChildQuery,
    as_of: AsOf = None,
    break_glass: BreakGlass = None,
    source_agency: Annotated[
        str | None, Query(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="only this agency's records")
    ] = None,
    category: Annotated[Category | None, Query(description="only this category")] = None,
    date_from: Annotated[date | None, Query(description="occurred on or after (YYYY-MM-DD)")] = None,
    date_to: Annotated[date | None, Query(description="occurred on or before (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="entries to skip")] = 0,
) -> JSONResponse:
    """A child's multi-agency chronology in the order things happened, as known at ``as_of``."""
    moment = parse_moment(as_of, "as_of")

    def answer(conn: Connection, current: Child, shown: Child | None) -> dict:
        found = [] if shown is None else chronology(
            conn, shown.id, as_of=moment, agency=source_agency, category=category,
            date_from=date_from, date_to=date_to, limit=limit, offset=offset,
        )  # fmt: skip
        return {"child": (shown or current).to_dict(), "entries": [entry.to_dict() for entry in found]}

    body = _logged_read(services, writes, principal, selector, break_glass, "chronology", moment, answer)
    return JSONResponse({"child": body["child"], "as_of": _as_of_text(moment), "entries": body["entries"]})


@router.get("/risk", response_model=RiskOut, responses=READ_ERRORS)
def get_risk(
    principal: ReaderPrincipal,
    services: ServicesDep,
    writes: WritesDep,
    selector: ChildQuery,
    as_of: AsOf = None,
    break_glass: BreakGlass = None,
) -> JSONResponse:
    """The risk prompts the rules raise over a child's chronology as known at ``as_of``, with decisions."""
    moment = parse_moment(as_of, "as_of")

    def answer(conn: Connection, current: Child, shown: Child | None) -> dict:
        found = [] if shown is None else risk_prompts(conn, shown.id, as_of=moment)
        return {"child": (shown or current).to_dict(), "prompts": [prompt.to_dict() for prompt in found]}

    body = _logged_read(services, writes, principal, selector, break_glass, "risk", moment, answer)
    return JSONResponse({"child": body["child"], "as_of": _as_of_text(moment), "prompts": body["prompts"]})


@router.get("/identity/matches", response_model=MatchesOut, responses=READ_ERRORS)
def get_possible_matches(
    principal: ReaderPrincipal,
    services: ServicesDep,
    writes: WritesDep,
    selector: ChildQuery,
    break_glass: BreakGlass = None,
) -> JSONResponse:
    """Children whose demographics resemble this child's, with reasons: for a person to confirm."""

    def answer(conn: Connection, current: Child, _shown: Child | None) -> dict:
        return {"child": current.to_dict(), "matches": [m.to_dict() for m in possible_matches(conn, current.id)]}

    return JSONResponse(
        _logged_read(services, writes, principal, selector, break_glass, "possible_matches", None, answer)
    )


@router.post(
    "/risk/decisions",
    status_code=201,
    response_model=DecisionOut,
    responses=problems.responses(400, 401, 403, 404, 413, 422),
)
def post_decision(
    principal: PractitionerPrincipal, services: ServicesDep, writes: WritesDep, decision: DecisionIn
) -> JSONResponse:
    """Record a decision on a prompt raised now for a child of your council (a log entry)."""
    with services.reader.connect() as conn:
        child = ChildSelector(child=decision.child).find(conn)
        _authorise(conn, principal, child, None)
        prompt = find_prompt(conn, child.id, decision.prompt_id)
    if prompt is None:
        raise NotFound("that prompt is not raised for this child now")

    def record():
        receipt = record_decision(
            services.ledger,
            prompt_id=prompt.prompt_id,
            child_id=child.id,
            rule=prompt.rule,
            rule_version=prompt.rule_version,
            records=prompt.records,
            decision=decision.decision,
            reason=decision.reason,
            by=_who(principal),
        )
        services.runner.catch_up()
        return receipt

    receipt = writes.exclusive(record)
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
def post_link(principal: PractitionerPrincipal, services: ServicesDep, writes: WritesDep, link: LinkIn) -> JSONResponse:
    """Confirm that identifiers are one child (a log entry). At least one of them must already name
    a child of your council: a practitioner joins others to a child they may read."""
    identifiers = [item.model_dump(exclude_none=True) for item in link.identifiers]
    with services.reader.connect() as conn:
        known = [_known(conn, item) for item in identifiers]
        if not any(child and principal.local_authority in child_local_authorities(conn, child.id) for child in known):
            raise Problem(403, "forbidden", "none of these identifiers names a child known to your council")

    def record():
        receipt = link_identities(services.ledger, identifiers, by=_who(principal), reason=link.reason)
        services.runner.catch_up()
        return receipt

    receipt = writes.exclusive(record)
    with services.reader.connect() as conn:
        child = ChildSelector(**_first_strong(identifiers)).find(conn)
    body = {"link_id": receipt.link_id, "recorded_at": format_time(receipt.recorded_at), "child": child.to_dict()}
    return JSONResponse(body, status_code=201)


def _known(conn: Connection, identifier: dict) -> Child | None:
    """The child an identifier object names now, if any (malformed objects name none)."""
    try:
        return ChildSelector(**_first_strong(identifier)).resolve(conn)
    except LedgerError:  # an identifier object that is not a lookup names nobody: it grants nothing
        return None


def _first_strong(identifier: dict | list[dict]) -> dict:
    """The one strong identifier to look a child up by (of an object, or the first of a list)."""
    item = identifier[0] if isinstance(identifier, list) else identifier
    for name in ("nhs_number", "upn"):
        if item.get(name):
            return {name: item[name]}
    return {"local_id": item.get("local_id"), "agency": item.get("agency")}


def _who(principal: Principal) -> str:
    """How a decision or link names who made it: the token, its role and its council."""
    return f"{principal.role} token {principal.token_id} (local authority {principal.local_authority})"


def _as_of_text(moment: datetime | None) -> str:
    """The moment a view reflects: the one asked for, or now (everything shown was recorded by then)."""
    return format_time(moment or datetime.now(timezone.utc))
