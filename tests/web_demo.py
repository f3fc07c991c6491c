"""The demo ledger served by a real uvicorn on 127.0.0.1, for the web view's tests, on each backend.

One demo per test module and backend (building it takes about a second), with a practitioner
token for the demo's council, one for another council, and an inquiry token. Tests that change the
ledger (decisions, links) assert what changed rather than absolute totals, so their order does not
matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api import tokens
from api.bootstrap import Services
from api.demo import DemoLedger, build_demo
from api.web_session import CSRF_FIELD
from projections.identity import resolve_child
from tests.api_live import served_ledger
from tests.conftest import BACKENDS

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class DemoLive:
    """A served demo: where, what it holds, and tokens to sign in with."""

    base_url: str
    services: Services
    demo: DemoLedger
    practitioner: str
    inquiry: str
    other_council: str
    backend: str

    def browser_client(self) -> httpx.Client:
        """A cookie-keeping client that follows no redirects, like a careful browser test."""
        return httpx.Client(base_url=self.base_url, timeout=60)

    def signed_in(self, token: str) -> httpx.Client:
        """A client signed in through the sign-in form (with its CSRF cookie and field)."""
        client = self.browser_client()
        form = client.get("/sign-in")
        answer = client.post("/sign-in", data={"token": token, CSRF_FIELD: csrf_of(form.text)})
        assert answer.status_code == 303, answer.text
        return client

    def child_id(self) -> str:
        """The demo child's id, as the identity projection gives it."""
        with self.services.engine.connect() as conn:
            return resolve_child(conn, nhs_number=self.demo.child_nhs_number).id


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_INPUT.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@pytest.fixture(scope="module", params=BACKENDS)
def demo_live(request, tmp_path_factory) -> Iterator[DemoLive]:
    folder: Path = tmp_path_factory.mktemp("web")
    with served_ledger(request.param, folder) as (services, base_url):
        demo = build_demo(folder / "demo", services=services)
        practitioner, _ = tokens.issue(services.engine, "practitioner", local_authority=demo.council,
                                       holder="Sam Example")
        other, _ = tokens.issue(services.engine, "practitioner", local_authority="123", holder="Alex Other")
        inquiry, _ = tokens.issue(services.engine, "inquiry", holder="Review Panel")
        yield DemoLive(base_url, services, demo, practitioner, inquiry, other, request.param)
