"""Administrators register agencies, their areas and keys and issue, list and revoke tokens over HTTP.

An admin token manages who may write and read; it never reads a child's records (the reading
routers refuse the admin role). Agency, area and key changes are ledger commands, so they are log
entries like any record, naming the token's holder; a key joins an existing agency only with the
agency's signed key statement or a flagged override (api/usecases/admin.py). Tokens are access
control, kept in the token table (api/tokens.py); issuing or revoking one is a log entry too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api import problems
from api.deps import ED25519_PEM, FREE_TEXT, FUTURE_TIME, PRINTABLE_TEXT, AdminPrincipal, ServicesDep, StrictJSONRoute
from api.schemas import dsse_envelope_schema
from domain.agencies import AGENCY_ID_PATTERN, AGENCY_KINDS
from domain.councils import COUNCIL_CODE_PATTERN
from domain.keystatements import KEY_STATEMENT_TYPE

router = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=StrictJSONRoute)

EXAMPLE_KEYID = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"

AgencyId = Annotated[
    str, Path(pattern=AGENCY_ID_PATTERN, description="the agency id", examples=["northshire-police"])
]
KeyId = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{64}$",
        description="the key id: hex SHA-256 of the raw public key",
        examples=[EXAMPLE_KEYID],
    ),
]
TokenId = Annotated[
    str,
    Path(pattern=r"^[0-9a-f]{16}$", description="the token id (from the token list)", examples=["3f9c2a1b7d6e5f40"]),
]
CouncilCode = Annotated[str, Field(pattern=COUNCIL_CODE_PATTERN, examples=["309"])]
Serves = Annotated[
    list[CouncilCode], Field(min_length=1, max_length=500, description="the council codes the agency serves")
]
EXAMPLE_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n"
    "-----END PUBLIC KEY-----\n"
)


class AgencyIn(BaseModel):
    """An agency to register, with its first Ed25519 signing key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"id": "northshire-police", "kind": "police", "name": "Northshire Police", "public_key": EXAMPLE_PEM,
                 "serves": ["309", "310"]}
            ]
        },
    )  # fmt: skip

    id: str = Field(pattern=AGENCY_ID_PATTERN)
    kind: Literal[AGENCY_KINDS]  # type: ignore[valid-type]
    name: str = Field(min_length=1, max_length=200, json_schema_extra=PRINTABLE_TEXT)
    public_key: str = Field(max_length=4096, description="SubjectPublicKeyInfo PEM of an Ed25519 key",
                            json_schema_extra=ED25519_PEM)  # fmt: skip
    serves: Serves


STATEMENT_SCHEMA = dsse_envelope_schema(
    KEY_STATEMENT_TYPE, "the agency's key statement: a DSSE envelope signed by one of its current keys",
    {"description": "standard base64 of {agency, keyid, public_key} (domain/keystatements.py)"},
    None,
)


class KeyIn(BaseModel):
    """A further signing key for an agency (key rotation): with the agency's key statement, a DSSE
    envelope signed by one of its current keys naming the agency and this key; or, without one, an
    override reason (the log flags the key, and ``ledger verify`` reports what it signs)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # No statement example: one holds only for the agency whose current key signed it.
            "examples": [
                {"public_key": EXAMPLE_PEM, "override": "Fictional: every key lost in the office fire; "
                                                        "agency's head confirmed by phone"},
            ],
            # A statement or an override reason, never both (api/usecases/admin.py).
            "oneOf": [
                {"required": ["public_key", "statement"],
                 "properties": {"statement": STATEMENT_SCHEMA, "override": {"type": "null"}}},
                {"required": ["public_key", "override"],
                 "properties": {"statement": {"type": "null"}, "override": {"type": "string"}}},
            ],
        },
    )  # fmt: skip

    public_key: str = Field(max_length=4096, description="SubjectPublicKeyInfo PEM of an Ed25519 key",
                            json_schema_extra=ED25519_PEM)  # fmt: skip
    statement: dict[str, Any] | None = Field(
        default=None, description=f"DSSE envelope of payload type {KEY_STATEMENT_TYPE}: the agency's word"
    )
    override: str | None = Field(
        default=None, min_length=1, max_length=1000, description="why the key is added without a statement",
        json_schema_extra=FREE_TEXT,
    )


class ServesIn(BaseModel):
    """The councils an agency serves from now on (all of them: this replaces the list)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"serves": ["309", "310"]}]})

    serves: Serves


class RevocationIn(BaseModel):
    """Why a key stops signing from now on (what it signed before stays valid)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "laptop lost"}]})

    reason: str = Field(min_length=1, max_length=1000, json_schema_extra=FREE_TEXT)


class KeyOut(BaseModel):
    keyid: str
    revoked: bool
    override: bool = Field(description="added by an administrator's override, without the agency's statement")


class AgencyOut(BaseModel):
    """An agency and the state of its keys."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "northshire-police",
                    "kind": "police",
                    "name": "Northshire Police",
                    "serves": ["309", "310"],
                    "keys": [{"keyid": EXAMPLE_KEYID, "revoked": False, "override": False}],
                }
            ]
        }
    )

    id: str
    kind: str
    name: str
    serves: list[str] = Field(description="council codes; empty for an agency whose areas were never recorded")
    keys: list[KeyOut]


class TokenIn(BaseModel):
    """A token to issue: its role and the scope that role needs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"role": "practitioner", "local_authority": "309", "holder": "Sam Example (MASH social worker)",
                 "expires": "2027-03-31"},
                {"role": "agency", "agency": "northshire-police"},
            ],
            # Which scope each role needs (api/tokens.py prepare), as the schema can say it.
            "oneOf": [
                {"properties": {"role": {"const": "agency"}, "agency": {"type": "string"},
                                "local_authority": {"type": "null"}}, "required": ["role", "agency"]},
                {"properties": {"role": {"const": "practitioner"}, "agency": {"type": "null"},
                                "local_authority": {"type": "string"}, "holder": {"type": "string"}},
                 "required": ["role", "local_authority", "holder"]},
                {"properties": {"role": {"enum": ["inquiry", "admin"]}, "agency": {"type": "null"},
                                "local_authority": {"type": "null"}, "holder": {"type": "string"}},
                 "required": ["role", "holder"]},
            ],
        },
    )  # fmt: skip

    role: Literal["agency", "practitioner", "inquiry", "admin"]
    agency: str | None = Field(default=None, pattern=AGENCY_ID_PATTERN)
    local_authority: str | None = Field(default=None, pattern=COUNCIL_CODE_PATTERN)
    expires: str | None = Field(default=None, max_length=40, description="RFC 3339 date or date-time",
                                json_schema_extra=FUTURE_TIME)  # fmt: skip
    holder: str | None = Field(default=None, min_length=1, max_length=200, json_schema_extra=PRINTABLE_TEXT,
                               description="the person or system the token is for (required but for agency tokens)")


class TokenOut(BaseModel):
    """What is kept about a token (never the secret, never its hash)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token_id": "3f9c2a1b7d6e5f40",
                    "holder": "Sam Example (MASH social worker)",
                    "role": "practitioner",
                    "agency": None,
                    "local_authority": "309",
                    "created_at": "2026-03-01T09:00:00Z",
                    "expires_at": "2027-04-01T00:00:00Z",
                    "revoked_at": None,
                }
            ]
        }
    )

    token_id: str
    holder: str | None
    role: str
    agency: str | None
    local_authority: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None


class IssuedToken(TokenOut):
    """A new token: ``token`` is shown this once and cannot be recovered."""

    token: str


@router.post(
    "/agencies", status_code=201, response_model=AgencyOut, responses=problems.responses(400, 401, 403, 409, 413, 422)
)
def register_agency(principal: AdminPrincipal, services: ServicesDep, agency: AgencyIn) -> JSONResponse:
    """Register an agency, the councils it serves and its first signing key (log entries naming you)."""
    pem = agency.public_key.encode("utf-8")
    return JSONResponse(
        services.admin.register_agency(principal, agency.id, agency.kind, agency.name, pem, agency.serves),
        status_code=201,
    )


@router.get("/agencies/{agency_id}", response_model=AgencyOut, responses=problems.responses(400, 401, 403, 404))
def get_agency(principal: AdminPrincipal, services: ServicesDep, agency_id: AgencyId) -> dict:
    """An agency and its keys."""
    return services.admin.agency(principal, agency_id)


@router.post(
    "/agencies/{agency_id}/keys",
    status_code=201,
    response_model=AgencyOut,
    responses=problems.responses(400, 401, 403, 404, 409, 413, 422),
)
def add_key(principal: AdminPrincipal, services: ServicesDep, agency_id: AgencyId, key: KeyIn) -> JSONResponse:
    """Add a signing key to an agency (rotation), with the agency's key statement or an override
    reason; a log entry naming you (an override is flagged). 422 without either, or for a statement
    that is not the agency's current key's signature over exactly this agency and key."""
    services.admin.add_key(
        principal, agency_id, key.public_key.encode("utf-8"), statement=key.statement, override=key.override
    )
    return JSONResponse(services.admin.agency(principal, agency_id), status_code=201)


@router.post(
    "/agencies/{agency_id}/serves",
    response_model=AgencyOut,
    responses=problems.responses(400, 401, 403, 404, 413, 422),
)
def change_areas(principal: AdminPrincipal, services: ServicesDep, agency_id: AgencyId, areas: ServesIn) -> dict:
    """Set the councils an agency serves from now on (replacing the list); a log entry naming you.
    Its records naming another council are refused from then on; those already recorded stay."""
    return services.admin.change_areas(principal, agency_id, areas.serves)


@router.post(
    "/agencies/{agency_id}/keys/{keyid}/revoke",
    response_model=AgencyOut,
    responses=problems.responses(400, 401, 403, 404, 409, 413, 422),
)
def revoke_key(
    principal: AdminPrincipal, services: ServicesDep, agency_id: AgencyId, keyid: KeyId, revocation: RevocationIn
) -> dict:
    """Revoke a signing key from this point in the log on; a log entry."""
    services.admin.revoke_key(principal, agency_id, keyid, revocation.reason)
    return services.admin.agency(principal, agency_id)


@router.post(
    "/tokens", status_code=201, response_model=IssuedToken, responses=problems.responses(400, 401, 403, 404, 413, 422)
)
def issue_token(principal: AdminPrincipal, services: ServicesDep, request: TokenIn) -> JSONResponse:
    """Issue a token; the secret is in this response only (the ledger keeps its hash). A
    ``token_issued`` log entry names the token, its holder and scope, and you."""
    secret, info = services.admin.issue_token(
        principal, request.role, agency=request.agency, local_authority=request.local_authority,
        expires=request.expires, holder=request.holder,
    )  # fmt: skip
    return JSONResponse({**info.as_json(), "token": secret}, status_code=201)


@router.get("/tokens", response_model=list[TokenOut], responses=problems.responses(401, 403))
def list_tokens(principal: AdminPrincipal, services: ServicesDep) -> list[dict]:
    """Every token ever issued, without secrets."""
    return [info.as_json() for info in services.admin.list_tokens(principal)]


@router.post(
    "/tokens/{token_id}/revoke", response_model=TokenOut, responses=problems.responses(400, 401, 403, 404, 413)
)
def revoke_token(principal: AdminPrincipal, services: ServicesDep, token_id: TokenId) -> dict:
    """Revoke a token at once, in every worker (each request checks the table); a ``token_revoked``
    log entry names it and you (once: revoking again keeps the first revocation)."""
    return services.admin.revoke_token(principal, token_id).as_json()
