"""Dependencies every router shares: the process's Services, the caller's Principal, role checks.

Authentication answers 401 for a missing, unknown, revoked or expired token and authorisation 403
for a valid token whose role does not allow the endpoint, always before any handler runs, so a
refused request never reaches the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.bootstrap import Services
from api.problems import Problem
from api.tokens import Principal, authenticate
from api.usecases.children import ChildSelector
from api.usecases.permissions import PERMISSIONS
from domain.agencies import AGENCY_ID_PATTERN
from domain.errors import MalformedRequest
from domain.jsonstrict import parse_json
from domain.text import check_text
from domain.times import parse_optional_instant

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `ledger token issue` (or POST /v1/admin/tokens): `Authorization: Bearer sgl_...`",
)


def get_services(request: Request) -> Services:
    """The one Services of this process, built in the app's lifespan."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_principal(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller, from the bearer token; 401 when there is none or it is not valid now.

    A plain ``def``: the token lookup is a database query, so it runs in the thread pool.
    """
    if credentials is None:
        raise Problem(401, "unauthorized", "send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
    with services.reader.connect() as conn:
        principal = authenticate(conn, credentials.credentials)
    if principal is None:
        raise Problem(
            401,
            "unauthorized",
            "the token is unknown, revoked or expired",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def allowed_to(operation: str) -> Callable[..., Principal]:
    """A dependency that lets through only tokens whose role may perform ``operation`` (the one table,
    api/usecases/permissions.py; 403 otherwise), then refuses query parameters the endpoint does not
    take (400): who may ask is settled before what was asked. The use case checks the table again."""
    roles = PERMISSIONS[operation]

    def check(principal: CurrentPrincipal, request: Request) -> Principal:
        if principal.role not in roles:
            raise Problem(403, "forbidden", f"a {principal.role} token may not do this")
        refuse_unknown_query(request)
        return principal

    check.__name__ = f"allowed_to_{operation}"
    return check


AnyPrincipal = Annotated[Principal, Depends(allowed_to("verify_log"))]
AgencyPrincipal = Annotated[Principal, Depends(allowed_to("submit"))]
ReaderPrincipal = Annotated[Principal, Depends(allowed_to("read_child"))]
DecidingPrincipal = Annotated[Principal, Depends(allowed_to("decide"))]
LinkingPrincipal = Annotated[Principal, Depends(allowed_to("link"))]
EntriesPrincipal = Annotated[Principal, Depends(allowed_to("read_entries"))]
AccessPrincipal = Annotated[Principal, Depends(allowed_to("read_access"))]
AdminPrincipal = Annotated[Principal, Depends(allowed_to("administer"))]


async def request_body(request: Request) -> bytes:
    """The raw request body, for handlers that parse it strictly themselves.

    The size limit was already enforced by the app's body-limit middleware before any byte reached
    a handler; this only hands the buffered bytes to a plain ``def`` handler.
    """
    return await request.body()


RequestBody = Annotated[bytes, Depends(request_body)]


# Formats the OpenAPI document names for what a JSON Schema pattern cannot say (docs/api.md): the
# ledger's text hygiene (domain/text.py), check digits (domain/identifiers.py), key material, times.
FREE_TEXT = {"format": "free-text"}  # no control character but tab and line breaks, no non-character
PRINTABLE_TEXT = {"format": "printable-text"}  # str.isprintable: one line, nothing invisible
NHS_NUMBER = {"format": "nhs-number"}  # ten digits with a valid Modulus 11 check digit
UPN = {"format": "upn"}  # thirteen characters with a valid check letter
ED25519_PEM = {"format": "ed25519-public-key-pem"}  # a SubjectPublicKeyInfo PEM of an Ed25519 key
FUTURE_TIME = {"format": "future-date-or-time"}  # RFC 3339 date or date-time, after now
INSTANT = {"format": "utc-date-time"}  # RFC 3339 date-time with an offset, representable in UTC

# Query parameters that only together say what is asked carry a group mark; describe_groups puts
# one object parameter in their place, whose schema can say the rule that joins them.
_GROUP_MARK = "x-parameter-group"
_SELECTOR_PART = {_GROUP_MARK: "child_selector"}
NAME_SEARCH_PART = {_GROUP_MARK: "name_search"}
PAST_DATE = {"format": "past-date"}  # YYYY-MM-DD, from 1900 to today

NHS_PATTERN = r"^[0-9]{10}$"
UPN_PATTERN = r"^[A-Z][0-9]{11}[0-9A-Z]$"
CHILD_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def child_selector(
    nhs_number: Annotated[str | None, Query(json_schema_extra=_SELECTOR_PART)] = None,
    upn: Annotated[str | None, Query(json_schema_extra=_SELECTOR_PART)] = None,
    child: Annotated[str | None, Query(json_schema_extra=_SELECTOR_PART)] = None,
    local_id: Annotated[str | None, Query(json_schema_extra=_SELECTOR_PART)] = None,
    agency: Annotated[str | None, Query(json_schema_extra=_SELECTOR_PART)] = None,
) -> ChildSelector:
    """The child named by the query string; 400 unless exactly one way of naming it is used.

    The five parameters are described to OpenAPI as one object parameter (CHILD_SELECTOR) whose
    schema says "exactly one of", which separate optional parameters cannot say."""
    named = [value for value in (nhs_number, upn, child, local_id) if value is not None]
    if len(named) != 1 or (local_id is None) != (agency is None):
        detail = "name the child by one of nhs_number, upn, child, or local_id with agency"
        raise Problem(400, "malformed-request", detail)
    for value, pattern, name in ((nhs_number, NHS_PATTERN, "nhs_number"), (upn, UPN_PATTERN, "upn"),
                                 (child, CHILD_PATTERN, "child"), (agency, AGENCY_ID_PATTERN, "agency")):  # fmt: skip
        if value is not None and re.fullmatch(pattern, value) is None:
            raise Problem(400, "malformed-request", f"{name} is not in the form {pattern}")
    if local_id is not None:
        check_text(local_id, "local_id", 128, single_line=True, error=MalformedRequest)
    return ChildSelector(nhs_number, upn, child, local_id, agency)


def _one_way(**properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": sorted(properties),
            "additionalProperties": False}  # fmt: skip


#: How OpenAPI is told the child selector's rule: a form-exploded object, exactly one way of naming.
CHILD_SELECTOR = {
    "name": "child_selector",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": "the child: nhs_number, or upn, or child (an id the ledger gave), or local_id with agency",
    "schema": {"oneOf": [
        _one_way(nhs_number={"type": "string", "pattern": NHS_PATTERN, **NHS_NUMBER,
                             "description": "10-digit NHS number (Modulus 11 check digit)",
                             "examples": ["9434765919"]}),
        _one_way(upn={"type": "string", "pattern": UPN_PATTERN, **UPN,
                      "description": "Unique Pupil Number (check letter)"}),
        _one_way(child={"type": "string", "pattern": CHILD_PATTERN, "description": "a child id the ledger gave"}),
        _one_way(local_id={"type": "string", "minLength": 1, "maxLength": 128, **PRINTABLE_TEXT,
                           "description": "an agency's own reference"},
                 agency={"type": "string", "pattern": AGENCY_ID_PATTERN, "description": "whose local_id"}),
    ]},
}  # fmt: skip


#: A search by name: the date of birth with a given name, a family name or both (never a name alone).
NAME_SEARCH = {
    "name": "name_search",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": "date_of_birth, with given_name, family_name or both (accents, case and punctuation ignored)",
    "schema": {
        "type": "object",
        "properties": {
            "date_of_birth": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", **PAST_DATE,
                              "examples": ["2026-03-09"]},
            "given_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S", **PRINTABLE_TEXT},
            "family_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S", **PRINTABLE_TEXT},
        },
        "required": ["date_of_birth"],
        "anyOf": [{"required": ["given_name"]}, {"required": ["family_name"]}],
        "additionalProperties": False,
    },
}  # fmt: skip
_GROUPS = {"child_selector": CHILD_SELECTOR, "name_search": NAME_SEARCH}


def describe_groups(schema: dict) -> None:
    """Replace each group's separate parameters with its object parameter in every operation that
    takes them (found by their mark, so this holds however the framework nests routers)."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            parameters = operation.get("parameters", [])
            groups = dict.fromkeys(p.get("schema", {}).get(_GROUP_MARK) for p in parameters)
            groups.pop(None, None)
            if groups:
                kept = [p for p in parameters if _GROUP_MARK not in p.get("schema", {})]
                operation["parameters"] = [*(_GROUPS[g] for g in groups), *kept]


ChildQuery = Annotated[ChildSelector, Depends(child_selector)]


def parse_moment(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 date-time with an offset, as ``as_of`` takes (domain/times.py); 400 otherwise."""
    return parse_optional_instant(value, name)


def _declared_query(dependant: Dependant) -> set[str]:
    """Every query parameter name a route or its dependencies declare (by alias)."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared_query(sub)
    return names


def refuse_unknown_query(request: Request) -> None:
    """400 for a query parameter the endpoint does not take: a misspelt ``as_off`` or ``breakglass``
    must not silently give a different answer than the one asked for."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    allowed = _ALLOWED_QUERY.get(route.unique_id)
    if allowed is None:
        allowed = _ALLOWED_QUERY[route.unique_id] = _declared_query(route.dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:5])
        raise Problem(400, "malformed-request", f"unknown query parameters: {shown}")


_ALLOWED_QUERY: dict[str, set[str]] = {}


class StrictJSONRequest(Request):
    """A request whose JSON body is decoded by the ledger's one strict parser (domain/jsonstrict.py:
    UTF-8, no repeated names, no NaN, at most 64 levels), never by ``json.loads`` as it comes."""

    async def json(self) -> object:
        if not hasattr(self, "_strict_json"):
            self._strict_json = parse_json(await self.body(), error=MalformedRequest)
        return self._strict_json


class StrictJSONRoute(APIRoute):
    """Routes whose bodies are JSON models: the body is parsed strictly before FastAPI validates it,
    so a refusal names what is wrong (400 ``malformed-request``) and the same rules hold everywhere."""

    def get_route_handler(self):  # type: ignore[override]
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            strict = StrictJSONRequest(request.scope, request.receive)
            content_type = strict.headers.get("content-type", "")
            if await strict.body() and (not content_type or "json" in content_type.lower()):
                await strict.json()  # refuses here, with its own detail, before any model sees it
            return await handler(strict)

        return strict_handler
