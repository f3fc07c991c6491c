"""Access entries, version 2 (SPEC 6.1, 6.3): the lookups that name no one child (an inquiry's fetch
of log entries, an export) are on the record too; version 1 entries still decode, keep their bytes
and read as allowed looks with no holder; the entry's rules hold for any holder, read and outcome.
Storage tests on both backends."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from api.cli import main
from domain.access import OUTCOMES, READS, Access, log_access
from domain.entries import canonical_json, decode_entry, entry_bytes, format_time
from domain.errors import InvalidPayload
from projections.access import reads_of
from tests.api_live import live  # noqa: F401 - the fixture
from tests.e2e.test_api_records import assert_problem

CHILD = "1b4e28ba-2fa1-51d2-883f-0016d3cca427"


def events_since(ledger, before: int) -> list:
    found = ledger.recorder.select_notifications(start=before + 1, limit=1000)
    return [ledger.mapper.to_domain_event(notification) for notification in found]


def stored(ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


# Log entries fetched by an inquiry ----------------------------------------------------------------


@pytest.mark.parametrize(
    "params, query",
    [
        pytest.param({"start": 0, "end": 2}, {"start": "0", "end": "2"}, id="range"),
        pytest.param({"start": 1}, {"start": "1"}, id="default-end"),
    ],
)
def test_an_inquirys_fetch_of_entries_is_one_access_entry_with_the_range(live, params, query):
    live.agency(), live.agency()  # a log with entries to fetch
    token = live.token("inquiry", holder="Review Panel (fictional)")
    before = stored(live.services.ledger)
    with live.client(token) as client:
        response = client.get("/v1/log/entries", params=params)
    assert response.status_code == 200
    (access,) = events_since(live.services.ledger, before)
    assert isinstance(access, Access.LoggedV2)
    assert (access.holder, access.role, access.agency, access.local_authority) == (
        "Review Panel (fictional)", "inquiry", None, None)  # fmt: skip
    assert (access.read, access.child, access.query, access.outcome) == ("entries", None, query, "allowed")
    served = [decode_entry(base64.b64decode(json.loads(line)["entry"])) for line in response.text.splitlines()]
    assert served and str(access.originator_id) not in {e["originator"] for e in served}, "logged after it served"


def test_a_fetch_beyond_the_log_is_logged_as_not_found_and_a_backward_range_as_an_empty_fetch(live):
    token = live.token("inquiry", holder="Review Panel (fictional)")
    before = stored(live.services.ledger)
    with live.client(token) as client:
        assert_problem(client.get("/v1/log/entries", params={"start": 10**9}), 404, "not-found")
        (access,) = events_since(live.services.ledger, before)
        assert (access.read, access.query, access.outcome) == ("entries", {"start": str(10**9)}, "not_found")
        middle = stored(live.services.ledger)
        backwards = client.get("/v1/log/entries", params={"start": 1, "end": 0})  # [1, 0) holds nothing
        assert backwards.status_code == 200 and backwards.text == "", backwards.text
    (access,) = events_since(live.services.ledger, middle)
    assert (access.read, access.query, access.outcome) == ("entries", {"start": "1", "end": "0"}, "allowed")


# The export's own access entry --------------------------------------------------------------------


def test_an_export_carries_its_own_access_entry_last(services, registered, tmp_path, capsys):
    out = tmp_path / "bundle"
    settings_args = ["--database-url", services.settings.database_url,
                     "--checkpoint-key", services.settings.checkpoint_key]  # fmt: skip
    before = stored(services.ledger)
    assert main(["export", "--out", str(out), *settings_args]) == 0
    (access,) = events_since(services.ledger, before)
    assert (access.holder, access.role, access.token_id, access.read) == ("cli", "admin", "cli", "export")
    assert (access.child, access.query, access.outcome, access.break_glass) == (None, {}, "allowed", False)
    last = json.loads((out / "entries.jsonl").read_text().splitlines()[-1])
    entry = decode_entry(base64.b64decode(last["entry"]))
    assert entry["kind"] == "access" and entry["read"] == "export" and entry["holder"] == "cli"
    assert entry["originator"] == str(access.originator_id)
    assert main(["verify", str(out), "--processes", "0"]) == 0
    capsys.readouterr()


# Version 1 entries --------------------------------------------------------------------------------


V1_FIELDS = dict(token_id="0123456789abcdef", role="practitioner", agency=None, local_authority="309", child=CHILD,
                 read="chronology", query={"nhs_number": "9434765919"}, as_of=None, break_glass=False, reason=None)  # fmt: skip


def test_a_version_1_entry_keeps_its_bytes_and_reads_as_an_allowed_look_with_no_holder(services):
    access = Access._create(Access.Logged, id=uuid.uuid4(), **V1_FIELDS)  # as the ledger wrote them once
    (event,) = access.pending_events
    expected = canonical_json({"v": 1, "kind": "access", "at": format_time(event.timestamp),
                               "originator": str(event.originator_id), **V1_FIELDS})  # fmt: skip
    assert entry_bytes(event) == expected, "version 1 entries keep their exact bytes"
    before = stored(services.ledger)
    services.ledger.save(access)
    (decoded,) = events_since(services.ledger, before)
    # Stored now, the ledger's signature is one more member beside the v1 fields (SPEC 6.4).
    assert type(decoded) is Access.Logged and _unsigned(entry_bytes(decoded)) == expected
    services.runner.catch_up()
    with services.reader.connect() as conn:
        (read,) = reads_of(conn, [CHILD])
    assert (read.holder, read.outcome, read.token_id, read.read) == (None, "allowed", "0123456789abcdef", "chronology")
    assert read.as_json()["holder"] is None and read.as_json()["outcome"] == "allowed"


def test_version_2_entries_of_each_outcome_reach_the_access_read_model(services):
    for outcome in OUTCOMES:
        log_access(services.ledger, holder="Sam Example (fictional)", token_id="0123456789abcdef",
                   role="practitioner", local_authority="309", child=None if outcome == "not_found" else CHILD,
                   read="search", query={"nhs_number": "9434765919"}, outcome=outcome)  # fmt: skip
    services.runner.catch_up()
    with services.reader.connect() as conn:
        found = reads_of(conn, [CHILD])
    assert [(r.holder, r.outcome, r.read) for r in found] == [
        ("Sam Example (fictional)", "allowed", "search"), ("Sam Example (fictional)", "refused", "search")]


# The entry's rules, for any holder, read and outcome (pure) ---------------------------------------


class StandIn:
    """A ledger that only records what it is asked to save."""

    def __init__(self) -> None:
        self.saved: list = []

    def save(self, *aggregates) -> None:
        self.saved.extend(aggregates)


@settings(max_examples=200, deadline=None)
@given(
    holder=st.none() | st.text(min_size=1, max_size=200).filter(str.isprintable),
    read=st.sampled_from(READS),
    outcome=st.sampled_from(OUTCOMES),
    break_glass=st.booleans(),
    child=st.none() | st.just(CHILD),
)
def test_an_access_entry_says_who_asked_what_and_the_answer_or_is_refused(holder, read, outcome, break_glass, child):
    ledger = StandIn()
    moment = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    fields = dict(holder=holder, token_id="0123456789abcdef", role="practitioner", local_authority="309", child=child,
                  read=read, query={"upn": "A123456789012"}, as_of=moment, break_glass=break_glass,
                  reason="Fictional reason." if break_glass else None, outcome=outcome)  # fmt: skip
    if break_glass and outcome != "allowed":
        with pytest.raises(InvalidPayload, match="only an allowed read"):
            log_access(ledger, **fields)
        assert ledger.saved == []
        return
    log_access(ledger, **fields)
    (event,) = [e for aggregate in ledger.saved for e in aggregate.collect_events()]
    entry = decode_entry(entry_bytes(event))
    assert entry["kind"] == "access" and isinstance(event, Access.LoggedV2)
    assert {k: entry[k] for k in ("holder", "child", "read", "outcome", "break_glass", "query", "as_of")} == {
        "holder": holder, "child": child, "read": read, "outcome": outcome, "break_glass": break_glass,
        "query": {"upn": "A123456789012"}, "as_of": "2026-03-01T12:00:00.000000Z"}  # fmt: skip


@pytest.mark.parametrize(
    "change, words",
    [
        pytest.param({"outcome": "maybe"}, "outcome must be one of", id="unknown-outcome"),
        pytest.param({"read": "gossip"}, "read must be one of", id="unknown-read"),
        pytest.param({"holder": "Sam\x00"}, "holder", id="nul-in-holder"),
        pytest.param({"holder": "x" * 201}, "holder", id="holder-too-long"),
    ],
)
def test_an_access_entry_with_a_bad_field_is_refused_and_nothing_saved(change, words):
    ledger = StandIn()
    fields = dict(holder="Sam", token_id="t", role="inquiry", child=None, read="search", query={}) | change
    with pytest.raises(InvalidPayload, match=words):
        log_access(ledger, **fields)
    assert ledger.saved == []


def _unsigned(entry: bytes) -> bytes:
    """An entry's bytes without the ledger's signature member."""
    from domain.entries import LEDGER_SIGNATURE, canonical_json

    return canonical_json({k: v for k, v in json.loads(entry).items() if k != LEDGER_SIGNATURE})
