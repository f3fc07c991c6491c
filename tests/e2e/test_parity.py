"""The web view and the JSON API are two adapters of one application layer: the same scenario through
each gives the same entries, the same prompts, the same access entries (one per look, allowed or
refused, the same content, holder and outcome included, but for the view's name) and the same
decision entries, on both backends."""

from __future__ import annotations

import re

from projections.access import reads_of
from projections.risk import decisions
from sqlalchemy import select

from api.web_session import CSRF_FIELD
from tests.web_demo import DemoLive, csrf_of, demo_live  # noqa: F401 - the fixture

ROW = re.compile(r'<tr id="entry-(\d+)" class="entry is-\w+[^"]*" data-agency="([^"]+)" data-status="(\w+)" '
                 r'data-record="([^"]+)"')  # fmt: skip
PROMPT = re.compile(r'id="prompt-([0-9a-f-]+)" data-rule="([a-z_]+)" data-state="([a-z]+)"')
#: What an access entry says about a look, beyond which view it was and when.
LOOK_FIELDS = ("holder", "token_id", "role", "agency", "local_authority", "child", "query", "as_of", "break_glass",
               "reason", "outcome")  # fmt: skip


def api(live: DemoLive, token: str, path: str, status: int = 200, **params) -> dict:
    answer = live.browser_client().get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == status, answer.text
    return answer.json()


def page(live: DemoLive, client, status: int = 200, **params) -> str:
    answer = client.get(f"/children/{live.child_id()}", params=params)
    assert answer.status_code == status, answer.text
    return answer.text


def looks(live: DemoLive) -> list:
    """Every logged look at the demo child so far, oldest first."""
    live.services.writes.exclusive(live.services.runner.catch_up)
    with live.services.engine.connect() as conn:
        return reads_of(conn, [live.child_id()])


def what_was_looked_at(read) -> dict:
    return {name: getattr(read, name) for name in LOOK_FIELDS}


def test_the_page_and_the_api_show_the_same_entries_and_prompts_now_and_as_known_then(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    then = demo_live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S")
    for moment in ({}, {"as_of": then}):
        html = page(demo_live, client, **moment)
        api_moment = {"as_of": then + "Z"} if moment else {}
        entries = api(demo_live, demo_live.practitioner, "/v1/chronology", child=demo_live.child_id(), **api_moment)
        prompts = api(demo_live, demo_live.practitioner, "/v1/risk", child=demo_live.child_id(), **api_moment)
        shown = [(int(leaf), agency, status, record) for leaf, agency, status, record in ROW.findall(html)]
        assert shown, "the page shows the chronology"
        assert shown == [(e["leaf_index"], e["agency"], e["status"], e["record_id"]) for e in entries["entries"]]
        assert PROMPT.findall(html) == [(p["prompt_id"], p["rule"], p["state"]) for p in prompts["prompts"]]


def test_one_look_is_one_access_entry_through_either_adapter_with_the_same_content(demo_live):
    child = demo_live.child_id()
    then = demo_live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S")
    client = demo_live.signed_in(demo_live.practitioner)
    outsider = demo_live.signed_in(demo_live.other_council)
    reason = "Fictional: the child presented at our A&E out of hours"
    scenario = [
        (demo_live.practitioner, client, {}, 200, "allowed"),
        (demo_live.practitioner, client, {"as_of": then}, 200, "allowed"),
        (demo_live.other_council, outsider, {}, 404, "refused"),
        (demo_live.other_council, outsider, {"break_glass": reason}, 200, "allowed"),
    ]
    for token, browser, params, status, outcome in scenario:
        before = len(looks(demo_live))
        api_params = {**params, "as_of": params["as_of"] + "Z"} if "as_of" in params else params
        api(demo_live, token, "/v1/chronology", status, child=child, **api_params)
        by_api = looks(demo_live)[before:]
        page(demo_live, browser, status, **params)
        by_page = looks(demo_live)[before + len(by_api):]
        assert [r.read for r in by_api] == ["chronology"] and [r.read for r in by_page] == ["child_page"]
        assert what_was_looked_at(by_api[0]) == what_was_looked_at(by_page[0])
        assert by_api[0].outcome == outcome and by_api[0].holder
    assert looks(demo_live)[-1].break_glass and looks(demo_live)[-1].reason == reason


def test_a_decision_is_the_same_log_entry_through_either_adapter(demo_live):
    child = demo_live.child_id()
    client = demo_live.signed_in(demo_live.practitioner)
    html = page(demo_live, client)
    prompt_id = next(pid for pid, rule, _ in PROMPT.findall(html) if rule == "repeated_domestic_abuse")
    reason = "Fictional: discussed at the daily MASH meeting."
    headers = {"Authorization": f"Bearer {demo_live.practitioner}"}
    answer = demo_live.browser_client().post("/v1/risk/decisions", headers=headers, json={
        "child": child, "prompt_id": prompt_id, "decision": "acknowledged", "reason": reason})  # fmt: skip
    assert answer.status_code == 201, answer.text
    form = {"prompt_id": prompt_id, "decision": "acknowledged", "reason": reason, CSRF_FIELD: csrf_of(html)}
    assert client.post(f"/children/{child}/decisions", data=form).status_code == 303
    with demo_live.services.engine.connect() as conn:
        rows = conn.execute(
            select(decisions.c.child_id, decisions.c.rule, decisions.c.decision, decisions.c.reason,
                   decisions.c.decided_by).where(decisions.c.prompt_id == prompt_id)
        ).all()  # fmt: skip
    assert len(rows) == 2 and rows[0] == rows[1], "the same decision, whichever way it was made"
