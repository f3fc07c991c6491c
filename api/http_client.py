"""A small HTTP client for the command line's calls to a running ledger (``ledger witness run``,
``ledger receipt verify --url``), on the standard library alone so the CLI needs no HTTP package.

A refusal (4xx) raises ``Refused`` with the problem's detail; a server that cannot be reached, or
answers 5xx, raises ``Unavailable`` (exit status 3). The token is sent as a bearer token and never
printed; a URL is shown without any query string.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from domain.errors import LedgerError, Unavailable

MAX_ANSWER = 16 << 20


class Refused(LedgerError):
    """The ledger answered with a 4xx problem; ``status`` is its HTTP status."""

    slug = "refused"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the ledger refused ({status}): {detail}")
        self.status = status


class LedgerClient:
    """Calls to one ledger at ``base_url`` with one bearer token."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 30) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LedgerError("--url must be an http:// or https:// URL of a ledger")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get_text(self, path: str, **params: object) -> str:
        return self._call("GET", path, params).decode("utf-8")

    def get_json(self, path: str, **params: object) -> Any:
        return _json(self._call("GET", path, params))

    def post_text(self, path: str, text: str) -> Any:
        return _json(self._call("POST", path, {}, text.encode("utf-8"), "text/plain; charset=utf-8"))

    def _call(self, method: str, path: str, params: dict, body: bytes | None = None, kind: str | None = None) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(self.base_url + path + query, data=body, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if kind:
            request.add_header("Content-Type", kind)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return answer.read(MAX_ANSWER)
        except urllib.error.HTTPError as error:
            detail = _detail(error)
            if error.code >= 500:
                raise Unavailable(f"the ledger at {self.base_url} answered {error.code}: {detail}") from None
            raise Refused(error.code, detail) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Unavailable(f"cannot reach the ledger at {self.base_url} ({type(reason).__name__})") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise Unavailable("the ledger answered something that is not JSON") from None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        problem = json.loads(error.read(65536))
        detail = str(problem.get("detail") or problem.get("title") or "")
    except (ValueError, AttributeError, OSError):
        detail = ""
    detail = detail if detail.isprintable() else detail.encode("unicode_escape").decode("ascii")
    return detail[:300] or "no detail"
