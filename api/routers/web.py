"""The practitioner web view: server-rendered pages from the same app, usable without JavaScript.

A social worker will not read JSON. These pages sign a practitioner or an inquiry in with their
token, find a child by any identifier, and show the chronology as a timeline (one lane per agency)
and as a table, the risk prompts with the records behind them, possible matches, who has looked
and, for inquiries, the log's state. Every search and every page of a child appends one access
entry exactly as the JSON API does (api/usecases/children.py), whatever its answer, before the page
is sent: one page view, one entry. A practitioner who asks for a child their council may not read
sees the very page an unknown identifier gives: no child known to your council, and the break-glass
form. Forms are POSTs with a
CSRF token; each page carries its own Content-Security-Policy allowing only this app's stylesheet.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api import problems, web_pages
from api.deps import ServicesDep
from api.log_safety import note_failure
from api.tokens import authenticate
from api.web_session import (
    CSRF_FIELD,
    WEB_ROLES,
    CsrfRefused,
    SignInRequired,
    check_csrf,
    check_sign_in_csrf,
    csrf_token,
    current_reader,
    end_session,
    remember_sign_in_csrf,
    session_secret,
    sign_in_csrf,
    start_session,
)
from api.outputs_pdf import review_pdf
from api.usecases.child_search import NameQuery
from api.usecases.children import ChildSelector, NotKnownToCouncil
from api.usecases.outputs import Outputs
from domain.errors import Forbidden, InvalidPayload, LedgerError, MalformedRequest, NotFound
from domain.records import CATEGORIES
from projections.dberrors import is_unreachable

HERE = Path(__file__).resolve().parent.parent
STATIC = HERE / "static"
STATIC_FILES = {path.name: path for path in STATIC.iterdir() if path.is_file()}
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["when"] = web_pages.format_when
templates.env.filters["label"] = web_pages.label
templates.env.filters["qs"] = lambda query: "?" + urlencode(query) if query else ""
templates.env.filters["b64"] = lambda raw: base64.b64encode(raw).decode("ascii")


class WebRoute(APIRoute):
    """Turns the web view's refusals into pages: sign in again, or a short explanation; never a
    problem+json body or a stack trace. A database that cannot be reached (or a ledger that cannot
    answer now) gives the outage page, 503 with ``Retry-After``, noted for the request's log line."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = RedirectResponse(request.url_for("web_sign_in_form"), status_code=303)
            except CsrfRefused:
                response = _message(request, 403, "This form has expired", "Go back, reload the page and try again.")
            except Forbidden as exc:
                response = _message(request, 403, "Not allowed", str(exc))
            except NotFound as exc:
                response = _message(request, 404, "Not found", str(exc))
            except LedgerError as exc:
                if problems.status_of(exc) != 503:
                    response = _message(request, 400, "That could not be done", str(exc))
                else:  # the ledger cannot answer now (busy, or a read model stalled): worth a retry
                    response = _message(request, 503, "The ledger cannot answer just now", str(exc))
                    response.headers["retry-after"] = str(problems.RETRY_AFTER_SECONDS)
            except Exception as exc:
                if not is_unreachable(exc):
                    raise  # the app's last resort answers 500 and logs it
                note_failure(request.scope, exc, unreachable=True)
                response = _unavailable(request)
            response.headers.setdefault("content-security-policy", CSP)
            return response

        return page_handler


def _unavailable(request: Request) -> HTMLResponse:
    """The outage page: says what is wrong and when to try again, and needs no database to render."""
    response = _render(request, "unavailable.html", 503)
    response.headers["retry-after"] = str(problems.RETRY_AFTER_SECONDS)
    return response


router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    secret = session_secret(request)
    context.setdefault("principal", None)
    context["csrf"] = csrf_token(secret) if secret else ""
    return templates.TemplateResponse(request, name, context, status_code=status)


def _message(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    return _render(request, "message.html", status, title=title, text=text)


def _back_to_child(request: Request, child_id: str, query: dict[str, str]) -> RedirectResponse:
    url = str(request.url_for("web_child", child_id=child_id))
    return RedirectResponse(url + ("?" + urlencode(query) if query else ""), status_code=303)


# Static files and sessions --------------------------------------------------------------------------


@router.get("/static/{path}", name="web_static")
def static_file(path: str) -> Response:
    """The stylesheets: a fixed list of files, never a path into the file system."""
    if path not in STATIC_FILES:
        raise NotFound("no such file")
    return FileResponse(STATIC_FILES[path], headers={"cache-control": "public, max-age=3600"})


@router.get("/sign-in", name="web_sign_in_form")
def sign_in_form(request: Request, error: str | None = None) -> Response:
    value = sign_in_csrf(request)
    response = _render(request, "sign_in.html", sign_in_csrf=value, error=error)
    remember_sign_in_csrf(request, response, value)
    return response


@router.post("/sign-in", name="web_sign_in")
def sign_in(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    check_sign_in_csrf(request, csrf)
    with services.reader.connect() as conn:
        principal = authenticate(conn, token.strip())
    if principal is None or principal.role not in WEB_ROLES:
        error = (
            "That token is not valid now: check it was copied whole, and has not expired or been revoked."
            if principal is None
            else "This view is for practitioners and inquiries; agency and admin tokens use the API."
        )
        value = sign_in_csrf(request)
        response = _render(request, "sign_in.html", 401, sign_in_csrf=value, error=error)
        remember_sign_in_csrf(request, response, value)
        return response
    response = RedirectResponse(request.url_for("web_home"), status_code=303)
    start_session(request, response, token.strip())
    return response


@router.post("/sign-out", name="web_sign_out")
def sign_out(request: Request, csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "") -> Response:
    check_csrf(request, csrf)
    response = RedirectResponse(request.url_for("web_sign_in_form"), status_code=303)
    end_session(request, response)
    return response


# Finding a child ------------------------------------------------------------------------------------


@router.get("/", name="web_home")
def home(request: Request, services: ServicesDep) -> Response:
    principal = current_reader(request, services)
    log_state = services.inquiry.log_state(principal) if principal.role == "inquiry" else None
    return _render(request, "home.html", principal=principal, agencies=services.practitioners.agencies(),
                   log_state=log_state, kind="nhs_number")  # fmt: skip


@router.get("/find", name="web_find")
def find(
    request: Request,
    services: ServicesDep,
    kind: Annotated[str, Query(max_length=20)] = "nhs_number",
    value: Annotated[str, Query(max_length=200)] = "",
    agency: Annotated[str, Query(max_length=64)] = "",
    break_glass: Annotated[str, Query(max_length=1000)] = "",
    given_name: Annotated[str, Query(max_length=200)] = "",
    family_name: Annotated[str, Query(max_length=200)] = "",
    date_of_birth: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """A search, by name and date of birth or by one identifier: one lookup, logged whatever its
    answer (api/usecases/practitioners.py says how). Another council's child, to a practitioner
    without a reason, gives the page an unknown identifier gives; a search by name never shows it."""
    principal = current_reader(request, services)
    by_name = {"given_name": given_name, "family_name": family_name, "date_of_birth": date_of_birth}
    if any(v.strip() for v in by_name.values()):
        return _find_by_name(request, services, principal, by_name)
    if not value.strip() and not break_glass:
        return _render(request, "find.html", principal=principal, agencies=services.practitioners.agencies(),
                       kind=kind, by_name=by_name)  # fmt: skip
    value, reason = value.strip(), break_glass.strip() or None
    status = 404
    try:
        child = services.practitioners.find(principal, kind, value, agency or None, reason)
    except InvalidPayload as exc:
        error, status = str(exc), 400
    except NotKnownToCouncil:
        search = {"kind": kind, "value": value, "agency": agency}
        return _render(request, "break_glass.html", 404, principal=principal, search=search)
    except NotFound:
        error = "No child is known by that identifier. Check it, or try another."
    else:
        url = str(request.url_for("web_child", child_id=child.id))
        return RedirectResponse(url + ("?" + urlencode({"break_glass": reason}) if reason else ""), status_code=303)
    return _render(request, "find.html", status, principal=principal, agencies=services.practitioners.agencies(),
                   error=error, kind=kind, value=value, agency=agency, by_name=by_name)  # fmt: skip


def _find_by_name(request: Request, services: ServicesDep, principal: Any, by_name: dict[str, str]) -> Response:
    """The candidates a search by name and date of birth shows, or the form again with what is wrong."""
    agencies = services.practitioners.agencies()
    try:
        query = NameQuery.parse(*(by_name[k].strip() or None for k in ("given_name", "family_name", "date_of_birth")))
    except MalformedRequest as exc:
        return _render(request, "find.html", 400, principal=principal, agencies=agencies, kind="nhs_number",
                       by_name=by_name, name_error=str(exc))  # fmt: skip
    answer = services.practitioners.search(principal, query)
    return _render(request, "find.html", principal=principal, agencies=agencies, kind="nhs_number",
                   by_name=by_name, answer=answer)  # fmt: skip


# A child's picture ----------------------------------------------------------------------------------


def view_query(
    as_of: Annotated[str, Query(max_length=40)] = "",
    agency: Annotated[str, Query(max_length=64)] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    highlight: Annotated[str, Query(max_length=64)] = "",
    break_glass: Annotated[str, Query(max_length=1000)] = "",
    order: Annotated[str, Query(max_length=10)] = "",
) -> web_pages.ViewQuery:
    """The view's query string: "as known at", filters, a highlighted prompt, a break-glass reason, the order."""
    return web_pages.ViewQuery.parse(as_of, agency, category, date_from, date_to, highlight, break_glass, order)


ViewParams = Annotated[web_pages.ViewQuery, Depends(view_query)]


def _child_page(request: Request, services: ServicesDep, child_id: str, view: web_pages.ViewQuery,
                for_print: bool) -> tuple[Any, web_pages.PageModel | None]:  # fmt: skip
    """The signed-in reader and the page of the child, or None when no child their council may read has
    that id (unknown or another council's: they cannot tell which) and they may break glass."""
    principal = current_reader(request, services)
    try:
        picture = services.pages.child_page(principal, child_id, as_of=view.as_of, break_glass=view.break_glass,
                                            narrow=view.narrow, for_print=for_print)  # fmt: skip
    except NotKnownToCouncil:
        return principal, None
    return principal, web_pages.page_model(picture, view)


@router.get("/children/{child_id}", name="web_child")
def child_page(request: Request, services: ServicesDep, child_id: str, view: ViewParams, done: str = "") -> Response:
    principal, page = _child_page(request, services, child_id, view, for_print=False)
    if page is None:
        return _render(request, "break_glass.html", 404, principal=principal, child_id=child_id, view=view)
    return _render(request, "child.html", principal=principal, p=page, view=view, categories=CATEGORIES,
                   done=done, today=datetime.now(timezone.utc).date())  # fmt: skip


@router.get("/children/{child_id}/print", name="web_print")
def print_page(request: Request, services: ServicesDep, child_id: str, view: ViewParams) -> Response:
    principal, page = _child_page(request, services, child_id, view, for_print=True)
    if page is None:
        return _render(request, "break_glass.html", 404, principal=principal, child_id=child_id, view=view)
    return _render(request, "print.html", principal=principal, p=page, view=view,
                   printed_at=datetime.now(timezone.utc))  # fmt: skip


@router.get("/children/{child_id}/review", name="web_review")
def review_page(request: Request, services: ServicesDep, child_id: str,
                format: Literal["html", "pdf"] = "html") -> Response:  # fmt: skip
    """The anonymised review chronology (api/usecases/outputs.py; one access entry per view), as a
    page or its PDF; the pseudonym mapping stays with the command line (``ledger review``)."""
    principal = current_reader(request, services)
    review = Outputs(services).review(principal, ChildSelector(child=child_id))
    if format == "pdf":
        return Response(review_pdf(review), media_type="application/pdf",
                        headers={"content-disposition": 'inline; filename="review.pdf"'})  # fmt: skip
    return _render(request, "review.html", principal=principal, review=review)


@router.post("/children/{child_id}/decisions", name="web_decide")
def decide(
    request: Request,
    services: ServicesDep,
    child_id: str,
    prompt_id: Annotated[str, Form(max_length=64)],
    decision: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    principal = current_reader(request, services)
    check_csrf(request, csrf)
    services.practitioners.decide(principal, child_id, prompt_id, decision, reason.strip())
    return _back_to_child(request, child_id, web_pages.back_query(back, done="decision"))


@router.post("/children/{child_id}/links", name="web_link")
def confirm_link(
    request: Request,
    services: ServicesDep,
    child_id: str,
    other_child: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    principal = current_reader(request, services)
    check_csrf(request, csrf)
    services.practitioners.confirm_match(principal, child_id, other_child, reason.strip())
    return _back_to_child(request, child_id, {"done": "link"})


@router.get("/children/{child_id}/restricted/{agency}/{record_id}", name="web_restricted")
def restricted_record(
    request: Request, services: ServicesDep, child_id: str, agency: str, record_id: str, break_glass: str = ""
) -> Response:
    """A restricted record opened: a break-glass read for a practitioner, which its agency is told of."""
    principal = current_reader(request, services)
    opened = services.sharing.open_restricted(principal, child_id, agency, record_id, break_glass.strip() or None)
    return _render(request, "restricted.html", principal=principal, child_id=child_id, opened=opened,
                   agency_name=services.sharing.agency_name(agency))  # fmt: skip


@router.post("/children/{child_id}/sharing", name="web_share")
def share(
    request: Request,
    services: ServicesDep,
    child_id: str,
    decision: Annotated[str, Form(max_length=20)],
    recipient: Annotated[str, Form(max_length=400)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    principal = current_reader(request, services)
    check_csrf(request, csrf)
    services.sharing.decide(principal, child_id, decision, recipient.strip() or None, reason.strip())
    return _back_to_child(request, child_id, {"done": "sharing"})


# The log, for inquiries -----------------------------------------------------------------------------


@router.get("/log", name="web_log")
def log_page(request: Request, services: ServicesDep) -> Response:
    principal = current_reader(request, services)
    try:
        log_state = services.inquiry.log_state(principal)
    except Forbidden:
        return _message(request, 403, "For inquiries only", "The log's state is shown to inquiry tokens.")
    return _render(request, "log.html", principal=principal, log_state=log_state)
