""""As known at" means as known at: the child page's header (and its print-out) states the child's
identifiers, names, dates of birth, councils and statutory status as they stood at the moment shown,
never what was recorded later (issue 13, item 5 and 6), on both backends."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from api.demo import CHILD_NHS, POLICE_REF, build_demo
from api.tokens import Principal
from projections.chronology import chronology
from projections.identity import resolve_child
from tests.fictional_case import (
    HEALTH,
    NHS,
    POLICE,
    SOCIAL_CARE,
    agencies,  # noqa: F401  (fixture)
    amendment,
    concern,
    identity_link,
    school_case,
    statutory_case,
)

PRACTITIONER = Principal("0123456789abcdef", "practitioner", local_authority="309", holder="Sam Example (fictional)")
DEMO_PRACTITIONER = Principal("0123456789abcdef", "practitioner", local_authority="990", holder="Sam (fictional)")


def a_moment_later() -> datetime:
    """A moment strictly between what was recorded before it and what is recorded after it."""
    time.sleep(0.01)
    moment = datetime.now(timezone.utc)
    time.sleep(0.01)
    return moment


def page(services, principal: Principal, child_id: str, as_of: datetime | None = None, for_print: bool = False):
    services.runner.catch_up()
    return services.pages.child_page(principal, child_id, as_of=as_of, for_print=for_print)


@pytest.mark.parametrize("for_print", [False, True], ids=["screen", "paper"])
def test_the_demo_header_as_known_before_the_referral_holds_no_police_reference_nor_misspelt_name(
    services, tmp_path, for_print
):
    demo = build_demo(tmp_path / "demo", services=services)
    with services.engine.connect() as conn:
        child_id = resolve_child(conn, nhs_number=CHILD_NHS).id
    now = page(services, DEMO_PRACTITIONER, child_id, for_print=for_print)
    then = page(services, DEMO_PRACTITIONER, child_id, demo.before_referral, for_print=for_print)
    police = {"agency": "northshire-police", "local_id": POLICE_REF}
    assert police in now.child.identifiers and "Lark Samplewel" in now.known.names
    assert then.child.identifiers == [{"nhs_number": CHILD_NHS}]
    assert then.known.names == ("Lark Samplewell",) and then.known.dates_of_birth == ("2026-03-09",)
    assert then.known.councils == ("990",)
    assert [s.wording for s in now.known.statuses] == ["On a child protection plan"] and then.known.statuses == ()


def test_a_child_joined_later_is_shown_as_it_stood_under_the_id_asked_for(services, agencies):
    school_case(agencies, link=False)
    before_link = a_moment_later()
    police = {"agency": POLICE, "local_id": "NP-P-58812"}
    link = identity_link(SOCIAL_CARE, "MASH-2026-0042", [{"nhs_number": NHS[0]}, police])
    agencies.submit(link | {"local_authority": "310"})  # the family has moved
    services.runner.catch_up()
    with services.engine.connect() as conn:
        health_id_then = resolve_child(conn, nhs_number=NHS[0], as_of=before_link).id
        assert resolve_child(conn, nhs_number=NHS[0]).id != health_id_then  # the police key's older id won
    now = page(services, PRACTITIONER, health_id_then)
    then = page(services, PRACTITIONER, health_id_then, before_link)
    assert police in now.child.identifiers and "Riley Heart" in now.known.names
    assert now.known.councils == ("309", "310")
    assert then.child.identifiers == [{"nhs_number": NHS[0]}] and then.known.names == ("Riley Hart",)
    assert then.known.councils == ("309",)
    assert {e.record_id for e in then.everything} == {"ED-88123"}


def test_a_name_and_a_date_of_birth_stated_later_are_not_known_before(services, agencies):
    first = concern(HEALTH, "ED-1", {"nhs_number": NHS[1]}, "2026-03-01", "physical_injury", local_authority="309")
    agencies.submit(first)
    before = a_moment_later()
    agencies.submit(concern(HEALTH, "ED-2", {"nhs_number": NHS[1], "given_name": "Quinn", "family_name": "Example",
                                             "date_of_birth": "2025-01-02"}, "2026-03-04", "neglect",
                            local_authority="309"))  # fmt: skip
    with services.engine.connect() as conn:
        services.runner.catch_up()
        child_id = resolve_child(conn, nhs_number=NHS[1]).id
    then, now = page(services, PRACTITIONER, child_id, before), page(services, PRACTITIONER, child_id)
    assert then.known.title == "Child" and then.known.names == () and then.known.dates_of_birth == ()
    assert now.known.title == "Quinn Example" and now.known.dates_of_birth == ("2025-01-02",)


def test_before_any_record_named_the_child_the_header_says_so_and_shows_nothing(services, agencies):
    nothing_yet = a_moment_later()
    records = school_case(agencies, link=False)
    with services.engine.connect() as conn:
        services.runner.catch_up()
        child_id = resolve_child(conn, nhs_number=NHS[0]).id
    then = page(services, PRACTITIONER, child_id, nothing_yet)
    assert not then.known.known_then and then.child.identifiers == [] and then.entries == [] and then.prompts == []
    assert records["health"]["record_id"] not in {e.record_id for e in then.everything}


def test_the_statutory_status_is_the_one_in_force_at_the_moment_shown(services, agencies):
    school_case(agencies)
    before_plan = a_moment_later()
    statutory_case(agencies, plan_on="2026-03-20", approximate=True)
    on_plan = a_moment_later()
    agencies.submit(concern(SOCIAL_CARE, "CSC-24-0110", {"nhs_number": NHS[0]}, "2026-06-30",
                            "child_protection_plan_end", local_authority="309"))  # fmt: skip
    with services.engine.connect() as conn:
        services.runner.catch_up()
        child_id = resolve_child(conn, nhs_number=NHS[0]).id
    assert page(services, PRACTITIONER, child_id, before_plan).known.statuses == ()
    (status,) = page(services, PRACTITIONER, child_id, on_plan).known.statuses
    assert (status.wording, status.since.day.isoformat(), status.since.agency) == (
        "On a child protection plan", "2026-03-20", SOCIAL_CARE)
    assert status.since.approximate
    assert page(services, PRACTITIONER, child_id).known.statuses == ()  # ended


def test_an_amended_plan_start_counts_once_and_a_retracted_one_not_at_all(services, agencies):
    records = statutory_case(agencies, plan_on="2026-03-20")
    agencies.submit(amendment(records["plan"], "CSC-24-0104-A1", occurred_at="2026-03-21"))
    with services.engine.connect() as conn:
        services.runner.catch_up()
        child_id = resolve_child(conn, nhs_number=NHS[0]).id
    (status,) = page(services, PRACTITIONER, child_id).known.statuses
    assert status.since.day.isoformat() == "2026-03-21"
    agencies.submit({"agency": SOCIAL_CARE, "record_id": "CSC-24-0104-R", "type": "retraction",
                     "amends": "CSC-24-0104-A1", "summary": "Fictional: recorded in error."})  # fmt: skip
    assert page(services, PRACTITIONER, child_id).known.statuses == ()


def test_an_approximate_date_is_kept_as_precision_about_on_the_chronology(services, agencies):
    statutory_case(agencies, plan_on="2026-03-20", approximate=True)
    with services.engine.connect() as conn:
        services.runner.catch_up()
        entries = chronology(conn, resolve_child(conn, nhs_number=NHS[0]).id)
    precision = {e.record_id: (e.occurred_at, e.occurred_precision) for e in entries}
    assert precision["CSC-24-0104"] == ("2026-03-20", "about")
    assert precision["CSC-24-0103"] == ("2026-03-20", "date")
    assert precision["CSC-24-0101"] == ("2026-03-10T10:00:00+00:00", "date-time")
