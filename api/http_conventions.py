"""HTTP as standard clients expect it (RFC 9110, 9111): HEAD, Allow, 415, ETag and 304.

One pure ASGI middleware, so every router gets the same conventions without a line of its own:
- ``HEAD`` is answered for every ``GET``, with the same status and headers and no body (the GET
  is run: a HEAD of a child's chronology is a look like any other and is logged as one).
- A 405 names in ``Allow`` every method the path takes, not only those of its first route.
- A body sent to a ``POST`` of ``/v1`` with a declared Content-Type that is not JSON
  (``application/json`` or ``application/*+json``) is refused with 415 ``unsupported-media-type``
  before a byte is read. A body with no Content-Type is read as JSON, as it always was. The web
  view's form-encoded posts are not under ``/v1`` and are untouched.
- Answers that can never change get a strong ``ETag`` (a hash of the body) and a long-lived
  private ``Cache-Control``: proofs (a proof for fixed sizes is the same forever in an append-only
  log), an entries range wholly below the tree size, the verifier key. The checkpoint gets an
  ETag with ``no-cache`` (a client may keep it, but must ask again). A GET whose If-None-Match
  holds the ETag is answered 304 with no body. Everything else keeps ``no-store`` (child data).
  The handler always runs first, so a conditional request is authenticated, authorised and
  logged exactly like an unconditional one.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems

IMMUTABLE = b"private, max-age=31536000, immutable"
REVALIDATE = b"no-cache"
SCHEMA_CACHE = b"public, max-age=86400"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


#: Endpoints whose body is text by their own protocol: a witness posts its cosignature line
#: (C2SP tlog-witness) as text/plain.
TEXT_BODIES = frozenset({"/v1/log/cosignatures"})


def cache_policy(path: str, query: bytes, body: bytes) -> bytes | None:
    """The Cache-Control of a 200 answer that deserves an ETag, or None for the default no-store."""
    if path in ("/v1/log/proof/inclusion", "/v1/log/proof/consistency", "/v1/log/key"):
        return IMMUTABLE
    if path == "/v1/log/checkpoint":
        return REVALIDATE
    if path.startswith("/v1/schema/"):
        return SCHEMA_CACHE
    if path == "/v1/log/entries":
        # Immutable only when the range asked for came back whole: nothing was cut at the tree size.
        asked = parse_qs(query.decode("latin-1"))
        try:
            start, end = int(asked.get("start", ["0"])[0]), int(asked["end"][0])
        except (KeyError, ValueError):
            return None
        return IMMUTABLE if end >= start and body.count(b"\n") == end - start else None
    return None


def is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 weak comparison of If-None-Match against one ETag."""
    wanted = if_none_match.strip()
    if wanted == b"*":
        return True
    tags = {tag.strip().removeprefix(b"W/") for tag in wanted.split(b",")}
    return etag in tags


def flat_routes(app: object) -> list:
    """The app's routes with their full paths. FastAPI from 0.13x keeps an included router as one
    entry; its helper flattens it (older versions listed every route already)."""
    routes = list(getattr(app, "routes", ()))
    try:
        from fastapi.routing import _iter_included_route_candidates
    except ImportError:  # pragma: no cover - older FastAPI: already flat
        return routes
    return list(_iter_included_route_candidates(routes))


def allowed_methods(scope: Scope, routes: list) -> list[str]:
    """Every method some route takes at this path (HEAD wherever GET is)."""
    methods: set[str] = set()
    for route in routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] is not Match.NONE:  # PARTIAL: path matches, method not
            methods |= set(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


class HTTPConventions:
    """See the module docstring; sits inside SecurityHeaders and outside the body limit."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._routes: list | None = None  # the application's, flattened once at the first 405

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        method = scope["method"]
        json_only = scope["path"].startswith("/v1/") and scope["path"] not in TEXT_BODIES
        if method in _BODY_METHODS and json_only and _has_body(headers):
            declared = headers.get(b"content-type")
            if declared is not None and not is_json(declared):
                detail = "send the body as application/json (this endpoint takes JSON only)"
                await _send_problem(send, problems.problem_dict(415, "unsupported-media-type", detail))
                return
        head = method == "HEAD"
        inner = {**scope, "method": "GET"} if head else scope
        conditional = headers.get(b"if-none-match") if method in ("GET", "HEAD") else None
        held: Message | None = None
        chunks: list[bytes] = []

        async def conventional_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] == 405:
                    if self._routes is None:
                        self._routes = flat_routes(scope.get("app"))
                    allow = ", ".join(allowed_methods(inner, self._routes)).encode()
                    message["headers"] = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"allow"]
                    message["headers"].append((b"allow", allow))
                if message["status"] == 200 and method in ("GET", "HEAD") and _may_cache(inner["path"]):
                    held = message  # wait for the body: its hash is the ETag
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await _finish(send, scope, held, b"".join(chunks), conditional, head)
                return
            if message["type"] == "http.response.body" and head:
                message = {**message, "body": b""}
            await send(message)

        await self.app(inner, receive, conventional_send)


def _may_cache(path: str) -> bool:
    return path.startswith(("/v1/log/", "/v1/schema/"))


async def _finish(send: Send, scope: Scope, start: Message, body: bytes, conditional: bytes | None, head: bool) -> None:
    """Send a held 200 with its ETag and Cache-Control, or the 304 its If-None-Match earned."""
    policy = cache_policy(scope["path"], scope.get("query_string", b""), body)
    headers = list(start.get("headers", ()))
    if policy is None:
        await send(start)
        await send({"type": "http.response.body", "body": b"" if head else body})
        return
    etag = b'"' + hashlib.sha256(body).hexdigest()[:40].encode() + b'"'
    headers = [(k, v) for k, v in headers if k.lower() not in (b"etag", b"cache-control")]
    headers += [(b"etag", etag), (b"cache-control", policy)]
    if conditional is not None and etag_matches(conditional, etag):
        kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    return (length is not None and length.strip() not in (b"", b"0")) or b"transfer-encoding" in headers


async def _send_problem(send: Send, problem: dict) -> None:
    response = problems.problem_response(problem, {"Accept-Post": "application/json"})
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def describe(schema: dict) -> dict:
    """The OpenAPI document with these conventions in it: 415 on every operation with a request
    body, and ETag, Cache-Control and 304 on the answers that carry them."""
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("415", {
                    "description": "the body was declared as something other than JSON",
                    "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}},
                })  # fmt: skip
            if _may_cache(path) and cache_policy(path, b"start=0&end=0", b"") is not None and "200" in responses:
                responses["200"].setdefault("headers", {}).update({
                    "ETag": {"description": "a hash of the body; send it back in If-None-Match",
                             "schema": {"type": "string"}},
                    "Cache-Control": {"description": "how long the answer may be kept", "schema": {"type": "string"}},
                })  # fmt: skip
                responses.setdefault("304", {"description": "not modified: the If-None-Match ETag is current"})
    return schema
