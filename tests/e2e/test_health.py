"""``GET /v1/health`` over real HTTP: 200 while every read model follows the log, 503 naming the one
stopped and where, and never record content, identifiers or error messages to a caller without a
token; inquiry and admin tokens see positions, lag and the error's type.
"""

from __future__ import annotations

import httpx
import pytest

from domain.records import Record
from projections.chronology import ChronologyProjection
from tests.api_live import Live, fresh_nhs_number, served_ledger
from tests.conftest import BACKENDS, concern

SECRET = "Fictional: a summary no health answer may carry"


@pytest.fixture(params=BACKENDS)
def server(request, tmp_path) -> Live:
    """A fresh served ledger per test: these tests stall its read models."""
    with served_ledger(request.param, tmp_path) as (services, base_url):
        yield Live(base_url, services)


def health(live: Live, token: str | None = None) -> httpx.Response:
    with live.client(token) as client:
        return client.get("/v1/health")


def test_health_is_200_and_says_little_without_a_token(server) -> None:
    agency = server.agency()
    answer = health(server)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"status": "ok", "read_models": 7, "stalled": []}
    details = health(server, server.token("admin")).json()["details"]
    assert [d["name"] for d in details] == list(server.services.runner.projections)
    assert all(d["lag"] == 0 and d["stall"] is None and d["position"] == d["head"] > 0 for d in details)
    assert "details" not in health(server, server.token("agency", agency=agency)).json()
    refused = health(server, "sgl_not-a-token")
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"


def test_a_stalled_read_model_makes_health_503_naming_it_and_the_entry(server, monkeypatch) -> None:
    agency, nhs = server.agency(), fresh_nhs_number()
    apply = ChronologyProjection.apply

    def refusing_apply(self, conn, items):
        if any(isinstance(item.event, Record.Recorded) and item.event.record_id == "H-POISON" for item in items):
            raise UnicodeEncodeError("utf-8", SECRET, 0, 1, "surrogates not allowed")
        apply(self, conn, items)

    monkeypatch.setattr(ChronologyProjection, "apply", refusing_apply)
    payload = concern("H-POISON", agency=agency, subject={"nhs_number": nhs}, summary=SECRET)
    with server.client(server.token("agency", agency=agency)) as client:
        posted = client.post("/v1/records", json=server.envelope(payload))
    assert posted.status_code == 503 and posted.json()["type"].endswith("/read-model-stalled")
    position = server.stored_events()
    answer = health(server)
    assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"].endswith("/read-model-stalled") and body["status"] == 503
    assert body["stalled"] == [{"read_model": "chronology", "position": position}] and body["read_models"] == 7
    assert f"chronology is stopped at log position {position}" in body["detail"] and "details" not in body
    for text in (SECRET, nhs, agency, "H-POISON", "UnicodeEncodeError", "surrogates"):
        assert text not in answer.text
    inquiry = health(server, server.token("inquiry")).json()
    (stalled,) = [d for d in inquiry["details"] if d["stall"] is not None]
    assert (stalled["name"], stalled["stall"]["error"], stalled["lag"]) == ("chronology", "UnicodeEncodeError", 1)
    assert SECRET not in str(inquiry) and nhs not in str(inquiry)
    monkeypatch.undo()  # the code fixed: the next catch-up takes the entry
    server.services.runner.catch_up()
    assert health(server).json() == {"status": "ok", "read_models": 7, "stalled": []}
