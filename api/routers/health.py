"""``GET /v1/health``: is every read model following the log? For load balancers and operators.

No token is needed, so a probe can ask, and the answer says no more than whether the ledger is
healthy: how many read models there are and, when one is stopped, which one and at which log
position (a notification id). Never record content, an identifier, an error message or the log's
size. An inquiry or admin token (people who may see the log anyway) also gets each read model's
position, lag and, for a stall, the error's type. A token that is not valid is refused (401) rather
than quietly ignored. It reads the status only: it catches nothing up and writes nothing, so it is
cheap to poll. Documented in docs/api.md; left out of the OpenAPI document, which describes the
authenticated API.
"""

from __future__ import annotations

from typing import Annotated

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import SQLAlchemyError

from api import problems
from api.bootstrap import Services
from api.deps import ServicesDep, bearer
from api.problems import Problem
from api.tokens import authenticate
from domain.errors import Unavailable

router = APIRouter(prefix="/v1", tags=["health"])

#: Roles that see each read model's position, lag and error type.
DETAIL_ROLES = ("inquiry", "admin")


@router.get("/health", include_in_schema=False)
def get_health(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> JSONResponse:
    """200 ``{"status": "ok", ...}``, or 503 ``read-model-stalled`` naming the stopped read models."""
    detailed = _detailed(services, credentials)
    try:
        found = services.runner.status()
    except (SQLAlchemyError, PersistenceError):
        raise Unavailable("the ledger's database cannot be read now") from None
    stalled = [{"read_model": s.stall.read_model, "position": s.stall.position} for s in found if s.stall]
    body: dict = {"status": "stalled" if stalled else "ok", "read_models": len(found), "stalled": stalled}
    if detailed:
        body["details"] = [status.as_dict() for status in found]
    if not stalled:
        return JSONResponse(body)
    first = stalled[0]
    detail = f"read model {first['read_model']} is stopped at log position {first['position']}"
    problem = problems.problem_dict(503, "read-model-stalled", detail)
    body.pop("status")  # a problem's status is the HTTP status (RFC 9457)
    return JSONResponse({**problem, **body}, status_code=503, media_type=problems.MEDIA_TYPE)


def _detailed(services: Services, credentials: HTTPAuthorizationCredentials | None) -> bool:
    """Whether the caller may see details; 401 for a token given that is not valid now."""
    if credentials is None:
        return False
    with services.reader.connect() as conn:
        principal = authenticate(conn, credentials.credentials)
    if principal is None:
        raise Problem(401, "unauthorized", "the token is unknown, revoked or expired",
                      {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
    return principal.role in DETAIL_ROLES
