"""Sign-in sessions and CSRF protection for the practitioner web view.

A browser session is the bearer token itself in an httpOnly, SameSite=Strict cookie (Secure over
https): every request authenticates it against the token store again, so revoking or expiring the
token ends the session at once, and no session table is needed by any number of workers. Each form
carries a CSRF token derived from the session secret with HMAC, checked in constant time; the
sign-in form, which comes before any session, uses a random double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

from api.bootstrap import Services
from api.tokens import Principal, authenticate

SESSION_COOKIE = "ledger_session"
SIGN_IN_COOKIE = "ledger_sign_in"
CSRF_FIELD = "csrf_token"
WEB_ROLES = ("practitioner", "inquiry")
_CSRF_LABEL = b"safeguarding-ledger web csrf v1"


class SignInRequired(Exception):
    """No valid session: the web view answers by sending the browser to the sign-in page."""


class CsrfRefused(Exception):
    """A form arrived without the CSRF token of the session that shows it."""


def _cookie_options(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


def session_secret(request: Request) -> str | None:
    """The token this browser signed in with, if any."""
    return request.cookies.get(SESSION_COOKIE)


def current_reader(request: Request, services: Services) -> Principal:
    """The signed-in practitioner or inquiry, or SignInRequired (no, unknown, revoked, expired token)."""
    secret = session_secret(request)
    if not secret:
        raise SignInRequired
    with services.reader.connect() as conn:
        principal = authenticate(conn, secret)
    if principal is None or principal.role not in WEB_ROLES:
        raise SignInRequired
    return principal


def csrf_token(secret: str) -> str:
    """The CSRF token of a session: HMAC of a fixed label keyed by the session's secret."""
    return hmac.new(secret.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).hexdigest()


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form whose CSRF token is not the current session's."""
    secret = session_secret(request)
    if not secret or not submitted or not hmac.compare_digest(csrf_token(secret), submitted):
        raise CsrfRefused


def sign_in_csrf(request: Request) -> str:
    """The sign-in form's CSRF value: the one already in the browser's cookie, or a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def remember_sign_in_csrf(request: Request, response: Response, value: str) -> None:
    response.set_cookie(SIGN_IN_COOKIE, value, max_age=3600, **_cookie_options(request))


def check_sign_in_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a sign-in form whose hidden value differs from the cookie set when it was shown."""
    expected = request.cookies.get(SIGN_IN_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfRefused


def start_session(request: Request, response: Response, secret: str) -> None:
    """Keep the token in the session cookie (a browser-session cookie: gone when the browser closes)."""
    response.set_cookie(SESSION_COOKIE, secret, **_cookie_options(request))
    response.delete_cookie(SIGN_IN_COOKIE, **_cookie_options(request))


def end_session(request: Request, response: Response) -> None:
    """Forget the token in this browser (the token itself stays valid until revoked or expired)."""
    response.delete_cookie(SESSION_COOKIE, **_cookie_options(request))
