"""``ledger demo``: the fictional case is appended through the ordinary checks and shows what the
issue promises, on both backends; the command works again and again and never deletes other files."""

from __future__ import annotations

import socket
from collections import Counter
from datetime import date

import pytest

from api import cli
from api.demo import AGENCIES, CASE_AFTER_REFERRAL, CASE_AS_IT_HAPPENED, CHILD_NHS, MARKER, OTHER_CHILDREN, build_demo
from api.tokens import authenticate
from api.usecases.pages import statutory_events
from domain.statutory import STATUTORY_CATEGORIES, current_statuses
from domain.errors import AlreadyExists
from projections.chronology import chronology
from projections.db import make_engine
from projections.identity import resolve_child
from projections.matching import possible_matches
from projections.risk import risk_prompts


@pytest.fixture
def demo(services, tmp_path):
    return build_demo(tmp_path / "demo", services=services)


def test_every_demo_record_is_signed_and_accepted_through_the_ordinary_checks(services, demo):
    payloads = OTHER_CHILDREN + CASE_AS_IT_HAPPENED + CASE_AFTER_REFERRAL
    assert [(r["agency"], r["record_id"]) for r in demo.receipts] == [(p["agency"], p["record_id"]) for p in payloads]
    assert len({r["leaf_index"] for r in demo.receipts}) == len(payloads)
    for agency in AGENCIES:
        info = services.ledger.agency(agency.agency_id)
        assert "fictional" in info.name and len(info.keys) == 1
        assert (demo.directory / "keys" / f"{agency.agency_id}.key").stat().st_mode & 0o777 == 0o600


def test_the_case_joins_police_health_nursery_and_social_care_into_one_chronology(services, demo):
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=CHILD_NHS)
        assert resolve_child(conn, local_id="NP-P-448170", agency="northshire-police").id == child.id
        entries = chronology(conn, child.id)
        prompts = {p.rule for p in risk_prompts(conn, child.id)}
        matches = possible_matches(conn, child.id)
    assert Counter(e.agency for e in entries) == {
        "northshire-health-visiting": 2, "elmwood-surgery": 4, "northshire-police": 3, "northshire-ed": 3,
        "little-acorns-nursery": 4, "northshire-childrens-services": 5,
    }  # fmt: skip
    statuses = {e.record_id: e.status for e in entries}
    assert statuses["ED-2026-071344"] == "superseded" and statuses["LAN-0123"] == "retracted"
    assert {"non_mobile_infant_injury", "repeated_domestic_abuse", "repeated_was_not_brought",
            "household_change_then_injury", "multi_agency_concerns"} <= prompts  # fmt: skip
    assert any("local:northshire-ed:ED-TEMP-20261102-07" in m.child.keys for m in matches)


def test_before_the_referral_the_police_call_outs_were_not_on_the_childs_chronology(services, demo):
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=CHILD_NHS)
        then = chronology(conn, child.id, as_of=demo.before_referral)
        prompts_then = {p.rule for p in risk_prompts(conn, child.id, as_of=demo.before_referral)}
    assert not any(e.agency == "northshire-police" for e in then)
    assert {e.record_id: e.status for e in then}["ED-2026-071344"] == "current"
    assert "repeated_domestic_abuse" not in prompts_then and "non_mobile_infant_injury" in prompts_then


def test_social_cares_statutory_events_put_the_child_on_a_plan_only_after_the_referral(services, demo):
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=CHILD_NHS)
        now, then = chronology(conn, child.id), chronology(conn, child.id, as_of=demo.before_referral)
    statutory = [(e.record_id, e.category) for e in now if e.category in STATUTORY_CATEGORIES]
    assert statutory == [("CSC-26-3341", "strategy_discussion"), ("CSC-26-3345", "section_47_enquiry"),
                         ("CSC-26-3502", "initial_cp_conference"), ("CSC-26-3503", "child_protection_plan_start")]
    (status,) = current_statuses(statutory_events(now))
    assert (status.wording, status.since.day, status.since.agency) == (
        "On a child protection plan", date(2026, 11, 16), "northshire-childrens-services")
    assert current_statuses(statutory_events(then)) == []


def test_a_folder_holding_anything_but_an_earlier_demo_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("someone's file")
    with pytest.raises(AlreadyExists):
        build_demo(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "someone's file"


def test_ledger_demo_no_serve_builds_prints_the_tokens_and_can_run_again(tmp_path, capsys):
    folder = tmp_path / "demo"
    for _ in range(2):
        assert cli.main(["demo", "--dir", str(folder), "--no-serve"]) == 0
        out = capsys.readouterr().out
        assert "http://127.0.0.1:8000/" in out and CHILD_NHS in out and (folder / MARKER).exists()
    secrets = [line.strip() for line in out.splitlines() if line.strip().startswith("sgl_")]
    engine = make_engine(f"sqlite:///{folder / 'ledger.db'}")
    try:
        with engine.connect() as conn:
            principals = [authenticate(conn, secret) for secret in secrets]
    finally:
        engine.dispose()
    assert [(p.role, p.local_authority) for p in principals] == [("practitioner", "990"), ("inquiry", None)]


def test_ledger_demo_refuses_a_busy_port_with_one_line(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["demo", "--dir", str(tmp_path / "d"), "--port", str(port)]) == 2
    assert "in use" in capsys.readouterr().err
