"""The HTTP API (SPEC section 3) from one factory: ``create_app(settings)``.

Secure by default: every response carries security headers and ``Cache-Control: no-store``; request
bodies are size-limited before a byte is parsed; every error is an RFC 9457 problem. A database
that cannot be reached gives 503 ``unavailable`` with ``Retry-After`` (projections/dberrors.py
decides what counts), any other unexpected exception a bare 500; either is logged as one line naming
the exception type and code location, never its message (a database error can quote record
content). Nothing logs a query string, a token or a body, and what is logged from a request is
escaped so it cannot forge a log line (api/log_safety.py).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import deps, http_conventions, problems
from api.log_safety import note_failure, request_summary
from api.bootstrap import Services, bootstrap
from api.routers import admin, agencies, health, inquiry, log, practitioners, schema, sharing, web
from api.settings import Settings, SettingsError
from domain.errors import LedgerError
from domain.jsonstrict import MAX_DEPTH, too_deep
from projections.dberrors import is_unreachable

logger = logging.getLogger("ledger.http")

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"strict-transport-security", b"max-age=31536000"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)

API_DESCRIPTION = """\
The safeguarding ledger: agencies post signed DSSE records; practitioners and inquiries read
chronologies and risk prompts (every read is itself logged); anyone authenticated can verify the log.

Every request carries `Authorization: Bearer <token>`. Errors are RFC 9457
`application/problem+json` with a stable `type` URI.
"""


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """The API application. Builds its Services in the lifespan from ``settings`` (closing them at
    shutdown), or uses prebuilt ``services`` (which the caller closes), as tests do."""
    if settings is None:
        settings = services.settings if services is not None else Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = bootstrap(settings) if owned else services
        app.state.services.log.start_timer()  # checkpoints at a steady rate, requests or not
        try:
            yield
        finally:
            app.state.services.log.stop_timer()
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="Safeguarding ledger",
        version="1",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json",
    )
    for module in (agencies, practitioners, sharing, inquiry, log, admin, health, schema):
        app.include_router(module.router)
    app.include_router(log.receipts_router)
    app.include_router(web.router)
    app.add_exception_handler(problems.Problem, _problem_handler)
    app.add_exception_handler(LedgerError, _ledger_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    # Added last = outermost: headers wrap everything, then limits, then the last-resort handler.
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, limit_for=_limits(settings))
    app.add_middleware(http_conventions.HTTPConventions)  # HEAD, Allow, 415, ETag/304 (api/http_conventions.py)
    app.add_middleware(SecurityHeaders)
    app.openapi = lambda: http_conventions.describe(_openapi(app))  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """The factory ``ledger serve`` hands uvicorn, so each worker process builds its own app. Bad
    settings (uvicorn run directly, without ``ledger serve``'s own check) are one line, exit 2."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"ledger: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return create_app(settings)


# Exception handlers --------------------------------------------------------------------------------


async def _problem_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, problems.Problem)
    return problems.problem_response(problems.problem_dict(exc.status, exc.slug, exc.detail), exc.headers)


async def _ledger_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LedgerError)
    return problems.problem_response(problems.from_ledger_error(exc))


async def _validation_handler(_request: Request, exc: Exception) -> Response:
    """FastAPI's own request validation, as a 400 problem naming the fields but never their values."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return problems.problem_response(problems.problem_dict(400, "malformed-request", "; ".join(parts)))


async def _http_exception_handler(_request: Request, exc: Exception) -> Response:
    """Routing errors (404 no such path, 405 wrong method) as problems, keeping e.g. ``Allow``."""
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed", 400: "malformed-request"}.get(exc.status_code)
    detail = "no such resource" if exc.status_code == 404 else str(exc.detail)
    problem = problems.problem_dict(exc.status_code, slug or f"http-{exc.status_code}", detail)
    return problems.problem_response(problem, dict(exc.headers or {}))


# Middleware (pure ASGI: no per-request task or body copy beyond what each one needs) ---------------


class SecurityHeaders:
    """Adds the security headers to every response (a handler that set its own CSP keeps it) and
    logs one line per request: method, path (escaped, without query string), status, milliseconds,
    and for a request that failed unexpectedly what failed (at ERROR, so it is never filtered out)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message["headers"] = list(message.get("headers", ())) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            level, line = request_summary(scope, status, (time.perf_counter() - started) * 1000)
            if logger.isEnabledFor(level):
                logger.log(level, "%s", line)


def _limits(settings: Settings) -> Callable[[str], int]:
    def limit_for(path: str) -> int:
        return settings.max_batch_bytes if path == "/v1/records/batch" else settings.max_envelope_bytes

    return limit_for


class BodyLimit:
    """Refuses a request body over its path's limit with 413 before any of it is parsed.

    A declared ``Content-Length`` over the limit is refused without reading; otherwise the body is
    read up to the limit, counted as it streams in (chunked bodies declare nothing), and replayed to
    the application only once it is known to fit.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit():
                await _send_problem(send, problems.problem_dict(400, "malformed-request", "bad Content-Length"))
                return
            if int(declared) > limit:
                await _send_problem(send, _too_large(limit))
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_problem(send, _too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(scope) and too_deep(body.decode("utf-8", "replace")):
            # Before any JSON parser sees it: Python's own recurses, and 100,000 brackets exhaust it.
            detail = f"the JSON body nests deeper than {MAX_DEPTH} levels"
            await _send_problem(send, problems.problem_dict(400, "malformed-request", detail))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    """Whether a request's body is for a JSON parser: declared JSON, or declared as nothing."""
    declared = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    return not declared or b"json" in declared.lower()


def _too_large(limit: int) -> dict:
    return problems.problem_dict(413, "payload-too-large", f"the body exceeds this endpoint's limit of {limit} bytes")


class CatchAll:
    """The last resort. A database that cannot be reached (raised in a handler or in a dependency
    such as token authentication) becomes a 503 ``unavailable`` problem with ``Retry-After``; any
    other unexpected exception a 500 problem with no detail. Either is noted for the request's one
    log line (SecurityHeaders): the exception's type and where it was raised, never its message."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - this is the boundary that must not leak
            unreachable = is_unreachable(exc)
            note_failure(scope, exc, unreachable)
            if started:
                return
            if unreachable:
                await _send_problem(send, problems.unreachable_problem())
            else:
                detail = "the ledger could not answer this request; it has been logged"
                await _send_problem(send, problems.problem_dict(500, "internal-error", detail))


async def _send_problem(send: Send, problem: dict) -> None:
    response = problems.problem_response(problem)
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


# OpenAPI --------------------------------------------------------------------------------------------


def _openapi(app: FastAPI) -> dict:
    """The OpenAPI document, with errors as ``application/problem+json`` and validation as 400."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    deps.describe_groups(schema)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            default_422 = responses.get("422", {}).get("content", {}).get("application/json", {})
            if "HTTPValidationError" in str(default_422.get("schema", "")):
                del responses["422"]
            responses.setdefault("400", {"description": "malformed request"})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = {
                        problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}
                    }
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ProblemBody"] = problems.ProblemBody.model_json_schema()
    app.openapi_schema = schema
    return schema
