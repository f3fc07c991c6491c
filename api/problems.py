"""RFC 9457 problem details: the one shape of every error the HTTP API returns.

Each refusal has a stable ``type`` URI built from a short slug, so a client can branch on it without
parsing prose; ``detail`` is a human sentence that is safe to show and never carries a stack trace,
a token, a key or record content. Domain refusals (domain/errors.py) map here by class; refusals
that only exist at the HTTP boundary (authentication, size limits, bad query parameters) are raised
as ``Problem`` directly.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import (
    AlreadyExists,
    Forbidden,
    IntegrityFailure,
    InvalidKey,
    InvalidPayload,
    LedgerError,
    MalformedEnvelope,
    MalformedRequest,
    NotFound,
    ProofError,
    ReadModelStalled,
    RecordConflict,
    SignatureRejected,
    TooLarge,
    Unavailable,
    WrongAgency,
)

if TYPE_CHECKING:  # the command line prints problems too, without loading the web stack
    from starlette.responses import Response

TYPE_BASE = "https://safeguarding-ledger.example/problems/"
MEDIA_TYPE = "application/problem+json"

#: Seconds a client is asked to wait before retrying a 503 (``Retry-After``): long enough not to
#: hammer a database that is coming back, short enough that a restart is barely noticed.
RETRY_AFTER_SECONDS = 5

#: The detail of a 503 for a database that cannot be reached (the driver's message is never shown).
UNREACHABLE_DETAIL = (
    "the ledger cannot reach its database just now; try again shortly (a record sent again is never stored twice)"
)

#: HTTP status of each domain refusal; a leaf not listed inherits its nearest listed ancestor's.
STATUS_OF: dict[type[LedgerError], int] = {
    MalformedEnvelope: 400,
    MalformedRequest: 400,
    InvalidKey: 400,
    ProofError: 400,
    WrongAgency: 403,
    Forbidden: 403,
    TooLarge: 413,
    NotFound: 404,
    RecordConflict: 409,
    AlreadyExists: 409,
    SignatureRejected: 422,
    InvalidPayload: 422,
    IntegrityFailure: 500,
    Unavailable: 503,
}

#: Short human titles per slug; RFC 9457 says a title should not change between occurrences.
TITLES: dict[str, str] = {
    "malformed-envelope": "The body is not a DSSE envelope",
    "signature-rejected": "The signature or signing key is refused",
    "invalid-payload": "The record or request content is refused",
    "wrong-agency": "This token may not act for that agency",
    "record-conflict": "This record id already holds different content",
    "not-found": "Not found",
    "already-exists": "Already exists",
    "proof-failed": "The proof cannot be given",
    "integrity-failure": "The log failed an integrity check",
    "unauthorized": "A valid bearer token is required",
    "forbidden": "This token's role or scope does not allow this",
    "payload-too-large": "The request is too large",
    "malformed-request": "The request is malformed",
    "invalid-key": "The key is not a usable Ed25519 key",
    "unsupported-media-type": "The body must be sent as application/json",
    "method-not-allowed": "Method not allowed",
    "internal-error": "Internal error",
    "unavailable": "The ledger is busy; try again",
    "read-model-stalled": "A read model is stalled on a log entry; the ledger is not answering this",
}


class ProblemBody(BaseModel):
    """The JSON body of an error response (RFC 9457)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": TYPE_BASE + "signature-rejected",
                    "title": TITLES["signature-rejected"],
                    "status": 422,
                    "detail": "the signature does not verify",
                }
            ]
        }
    )

    type: str = Field(description="stable URI naming the kind of problem")
    title: str = Field(description="short summary of the kind of problem")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong this time, safe to show")


class Problem(Exception):
    """A refusal made at the HTTP boundary; ``headers`` go on the response (e.g. WWW-Authenticate)."""

    def __init__(self, status: int, slug: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}


def problem_dict(status: int, slug: str, detail: str) -> dict:
    """The problem object for ``status`` and ``slug``: also used inside batch results."""
    title = TITLES.get(slug, slug.replace("-", " "))
    return {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}


def status_of(error: LedgerError) -> int:
    """The HTTP status of a domain refusal: by class, then by nearest ancestor.

    A new leaf nobody has mapped yet is a refused request (422); the bare base class is only raised
    when the store kept failing, which is worth a retry (503).
    """
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
        if cls is LedgerError:
            break
    return 503 if type(error) is LedgerError else 422


def from_ledger_error(error: LedgerError) -> dict:
    """The problem object of a domain refusal; its message is written to be safe to show."""
    status = status_of(error)
    slug = "unavailable" if status == 503 and not isinstance(error, Unavailable) else error.slug
    return problem_dict(status, slug, str(error) or TITLES.get(slug, slug))


def unreachable_problem() -> dict:
    """The problem object of a request that failed because the database cannot be reached."""
    return problem_dict(503, Unavailable.slug, UNREACHABLE_DETAIL)


def problem_response(problem: dict, headers: dict[str, str] | None = None) -> Response:
    """An ``application/problem+json`` response carrying ``problem``; a 503 always says when to retry."""
    from starlette.responses import Response

    body = json.dumps(problem, ensure_ascii=False).encode("utf-8")
    headers = dict(headers or {})
    if problem["status"] == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return Response(body, status_code=problem["status"], media_type=MEDIA_TYPE, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` entries documenting the given error statuses as problems (app.py
    moves their schema under ``application/problem+json`` when it builds the document)."""
    described = {
        400: "malformed request",
        401: "no, unknown, revoked or expired token",
        403: "the token's role or scope does not allow this",
        404: "not found",
        409: "conflicts with what is already recorded",
        413: "request too large",
        422: "well-formed but refused",
        503: "the database cannot be reached or the ledger is busy; retry after Retry-After seconds",
    }
    return {
        status: {"model": ProblemBody, "description": described.get(status, "problem")} for status in statuses
    }
