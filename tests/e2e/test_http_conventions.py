"""HTTP as standard clients expect it, over real HTTP on both backends (api/http_conventions.py):
HEAD on every GET, a complete Allow on 405, 415 for a non-JSON body, ETag and 304 for answers that
never change, no-store for the rest, and the web view's form posts untouched."""

from __future__ import annotations

import json

import pytest

from api.web_session import CSRF_FIELD
from tests.api_live import live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_api_records import assert_problem
from tests.e2e.test_api_roles import ROLES, TABLE, World
from tests.e2e.test_api_roles import world  # noqa: F401 - the fixture
from tests.web_demo import csrf_of

IMMUTABLE = "private, max-age=31536000, immutable"


def token_for(world: World, allowed: set[str]) -> str:
    return world.tokens[next(role for role in ROLES if role in allowed)]


def test_head_answers_every_get_like_the_get_without_a_body(world):
    gets = [(path, build, allowed) for (method, path), (build, allowed) in TABLE.items() if method == "GET"]
    assert len(gets) >= 10
    for path, build, allowed in gets:
        _, url, kwargs = build(world)
        with world.live.client(token_for(world, allowed)) as client:
            got, head = client.get(url, **kwargs), client.head(url, **kwargs)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        if path not in ("/v1/access", "/v1/bundle"):  # the HEAD is a logged look: the history it shows grew by one
            assert head.headers["content-length"] == str(len(got.content)), path
    with world.live.client() as client:  # the web view's pages and the OpenAPI document too
        for path in ("/sign-in", "/v1/openapi.json"):
            assert (client.head(path).status_code, client.head(path).content) == (200, b""), path


def test_a_405_names_every_method_the_path_takes(world):
    with world.live.client() as client:
        paths = client.get("/v1/openapi.json").json()["paths"]
        for path, item in paths.items():
            if "{" in path:
                continue
            documented = {method.upper() for method in item}
            answer = client.request("PATCH", path)
            problem = assert_problem(answer, 405, "method-not-allowed")
            allowed = {method.strip() for method in answer.headers["allow"].split(",")}
            assert allowed == documented | ({"HEAD"} if "GET" in documented else set()), (path, problem)
    with world.live.client(world.tokens["admin"]) as client:
        assert set(client.delete("/v1/admin/tokens").headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_a_json_body_sent_as_something_else_is_415_and_nothing_is_stored(live, content_type):
    agency = live.agency()
    body = live.envelope(concern("ct-1", agency=agency))
    size = live.stored_events()
    with live.client(live.token("agency", agency=agency)) as client:
        for path, data in (("/v1/records", body), ("/v1/records/batch", {"envelopes": [body]})):
            answer = client.post(path, content=json.dumps(data), headers={"content-type": content_type})
            assert_problem(answer, 415, "unsupported-media-type")
            assert answer.headers["accept-post"] == "application/json"
    with live.client(live.token("admin")) as client:
        answer = client.post("/v1/admin/tokens", content=b'{"role": "inquiry", "holder": "R"}',
                             headers={"content-type": content_type})  # fmt: skip
        assert_problem(answer, 415, "unsupported-media-type")
    assert live.stored_events() == size


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON", None]
)
def test_json_however_declared_and_an_undeclared_body_are_taken(live, content_type):
    agency = live.agency()
    headers = {} if content_type is None else {"content-type": content_type}
    with live.client(live.token("agency", agency=agency)) as client:
        answer = client.post("/v1/records", content=json.dumps(live.envelope(concern("ok", agency=agency))),
                             headers=headers)  # fmt: skip
    assert answer.status_code == 201, answer.text


def test_the_web_view_s_form_posts_still_work(live):
    with live.client() as browser:
        form = browser.get("/sign-in")
        answer = browser.post("/sign-in", data={"token": live.token("practitioner", local_authority="309"),
                                                CSRF_FIELD: csrf_of(form.text)})  # fmt: skip
    assert answer.status_code == 303


def test_answers_that_never_change_carry_an_etag_and_a_conditional_get_is_304(live):
    agency = live.agency()
    live.services.submit([live.envelope(concern(f"etag-{i}", agency=agency)) for i in range(3)], agency)
    size = live.services.checkpoint().size
    fixed = [
        ("/v1/log/proof/inclusion", {"index": 1, "size": size}),
        ("/v1/log/proof/consistency", {"from": 1, "to": size}),
        ("/v1/log/key", {}),
        ("/v1/log/entries", {"start": 0, "end": size}),
    ]
    with live.client(live.token("inquiry")) as client:
        for path, params in fixed:
            first = client.get(path, params=params)
            etag = first.headers["etag"]
            assert first.status_code == 200 and first.headers["cache-control"] == IMMUTABLE, path
            assert etag.startswith('"') and client.get(path, params=params).headers["etag"] == etag, path
            for asked in (etag, f"W/{etag}", f'"other", {etag}', "*"):
                again = client.get(path, params=params, headers={"if-none-match": asked})
                assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag), (path, asked)
                assert again.headers["cache-control"] == IMMUTABLE
            assert client.head(path, params=params, headers={"if-none-match": etag}).status_code == 304
            assert client.get(path, params=params, headers={"if-none-match": '"other"'}).content == first.content
        # A conditional request is still a request: no token, no answer.
        with live.client() as anonymous:
            path, params = fixed[0]
            assert anonymous.get(path, params=params, headers={"if-none-match": "*"}).status_code == 401


def test_answers_that_can_change_are_not_kept(live):
    agency = live.agency()
    live.services.submit([live.envelope(concern("nk-1", agency=agency))], agency)
    size = live.services.checkpoint().size
    with live.client(live.token("inquiry")) as client:
        for path, params in (
            ("/v1/log/entries", {"start": 0}),  # ends where the log ends now
            ("/v1/log/entries", {"start": 0, "end": size + 5}),  # cut at the tree size
            ("/v1/chronology", {"nhs_number": concern()["subject"]["nhs_number"]}),  # child data
            ("/v1/bundle", {"nhs_number": concern()["subject"]["nhs_number"]}),  # child data
        ):
            answer = client.get(path, params=params)
            assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", (path, params)
            assert "etag" not in answer.headers
        # The checkpoint may be kept but must be asked for again; its ETag changes as the log grows.
        note = client.get("/v1/log/checkpoint")
        assert note.headers["cache-control"] == "no-cache"
        assert client.get("/v1/log/checkpoint", headers={"if-none-match": note.headers["etag"]}).status_code == 304
        live.services.submit([live.envelope(concern("nk-2", agency=agency))], agency)
        grown = client.get("/v1/log/checkpoint", headers={"if-none-match": note.headers["etag"]})
        assert grown.status_code == 200 and grown.headers["etag"] != note.headers["etag"]
