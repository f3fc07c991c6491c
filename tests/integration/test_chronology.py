"""The chronology: one multi-agency picture per child, in order, with statuses as known at any moment.

The property test drives random concerns, amendments, retractions, identity links and practitioner
(un)links through the ledger and checks every view against a brute-force recomputation from the log.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from stdnum.gb import nhs

from domain.errors import InvalidPayload, LedgerError, NotFound
from domain.identifiers import ChildIdentifiers
from domain.links import link_identities, unlink_identities
from projections.chronology import child_local_authorities, chronology, entries
from projections.identity import resolve_child
from projections.integrity import leaves
from tests.fictional_case import (
    HEALTH,
    NHS,
    POLICE,
    SCHOOL,
    SOCIAL_CARE,
    UPN,
    agencies,  # noqa: F401  (fixture)
    amendment,
    concern,
    identity_link,
    retraction,
    school_case,
)
from tests.log_oracle import naive_chronology, naive_component, read_log

EARLY = datetime(2000, 1, 1, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def view(services, as_of=None, **selector) -> list[tuple[str, str, str]]:
    with services.engine.connect() as conn:
        child = resolve_child(conn, **selector, as_of=as_of)
        return [(e.agency, e.record_id, e.status) for e in chronology(conn, child.id, as_of=as_of)]


def test_joined_records_form_one_chronology_in_the_order_things_happened(services, agencies) -> None:
    records = school_case(agencies)
    with services.engine.connect() as conn:
        child = resolve_child(conn, upn=UPN[0])
        got = chronology(conn, child.id)
        assert child == resolve_child(conn, nhs_number=NHS[0])
        assert child == resolve_child(conn, local_id="NP-P-58812", agency=POLICE)
    # Police 1 March 23:10, school 5 March 08:45, health 9 March (a date: start of the day), then the
    # link, which has no occurred_at and sorts at its recorded_at (today, after March 2026).
    assert [e.record_id for e in got] == ["NP-24-0311", "OAK-2026-17", "ED-88123", "MASH-2026-0042"]
    police, school, health, link = got
    assert (police.agency_kind, school.agency_kind, health.agency_kind, link.agency_kind) == (
        "police", "school", "health", "social_care")  # fmt: skip
    assert (police.occurred_at, police.occurred_precision) == ("2026-03-01T23:10:00+00:00", "date-time")
    assert (health.occurred_at, health.occurred_precision) == ("2026-03-09", "date")
    assert link.occurred_at is None and link.type == "identity_link" and link.category is None
    assert police.author_role == "police constable" and police.action_taken == records["police"]["action_taken"]
    assert all(e.status == "current" for e in got)
    assert police.to_dict()["recorded_at"].endswith("Z")


def test_leaf_index_is_the_receipts_and_the_integrity_models(services, agencies) -> None:
    receipt = agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[0]}, "2026-01-02", "neglect"))[0]
    with services.engine.connect() as conn:
        (entry,) = chronology(conn, resolve_child(conn, nhs_number=NHS[0]).id)
        pairs = conn.execute(select(entries.c.notification_id, entries.c.leaf_index)).all()
        for notification_id, leaf_index in pairs:
            query = select(leaves.c.leaf_index).where(leaves.c.notification_id == notification_id)
            assert conn.execute(query).scalar() == leaf_index
    assert entry.leaf_index == receipt["leaf_index"]


def test_amendment_supersedes_and_retraction_retracts_from_when_recorded(services, agencies) -> None:
    first = concern(POLICE, "P-1", {"local_id": "L-9"}, "2026-02-01", "neglect")
    agencies.submit(first)
    before_amendment = datetime.now(timezone.utc)
    agencies.submit(amendment(first, "P-1a", category="physical_injury", occurred_at="2026-02-02"))
    before_retraction = datetime.now(timezone.utc)
    agencies.submit(retraction(POLICE, "P-1r", "P-1a"))
    selector = {"local_id": "L-9", "agency": POLICE}
    assert view(services, before_amendment, **selector) == [(POLICE, "P-1", "current")]
    assert view(services, before_retraction, **selector) == [(POLICE, "P-1", "superseded"), (POLICE, "P-1a", "current")]
    now = view(services, **selector)
    assert now == [(POLICE, "P-1", "superseded"), (POLICE, "P-1a", "retracted"), (POLICE, "P-1r", "current")]
    with services.engine.connect() as conn:
        got = chronology(conn, resolve_child(conn, **selector).id)
    assert got[0].superseded_by == "P-1a" and got[1].retracted_by == "P-1r" and got[1].amends == "P-1"
    with services.engine.connect() as conn:
        assert resolve_child(conn, **selector, as_of=EARLY) is None


def test_a_child_not_yet_known_resolves_to_nothing_as_of_earlier(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[1]}, "2026-01-02", "neglect"))
    with services.engine.connect() as conn:
        assert resolve_child(conn, nhs_number=NHS[1], as_of=EARLY) is None
        child = resolve_child(conn, nhs_number=NHS[1])
        assert chronology(conn, child.id, as_of=EARLY) == []
        with pytest.raises(NotFound):
            chronology(conn, "00000000-0000-0000-0000-000000000000")
        assert resolve_child(conn, nhs_number=NHS[0]) is None
        with pytest.raises(InvalidPayload):
            resolve_child(conn, nhs_number=NHS[1], upn=UPN[0])
        with pytest.raises(InvalidPayload):
            resolve_child(conn, local_id="x")


def test_a_retraction_naming_no_child_sits_on_its_targets_chronology(services, agencies) -> None:
    agencies.submit(concern(SCHOOL, "S-1", {"upn": UPN[1]}, "2026-01-05", "school_absence"))
    agencies.submit(retraction(SCHOOL, "S-2", "S-1"))
    assert view(services, upn=UPN[1]) == [(SCHOOL, "S-1", "retracted"), (SCHOOL, "S-2", "current")]


def test_filters_and_paging(services, agencies) -> None:
    subject = {"nhs_number": NHS[0]}
    agencies.submit(*(concern(HEALTH, f"H-{d}", subject, f"2026-04-{d:02d}", "was_not_brought") for d in range(1, 11)))
    agencies.submit(concern(POLICE, "P-1", {"nhs_number": NHS[0]}, "2026-04-05T12:00:00+01:00", "domestic_abuse"))
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=NHS[0]).id
        assert [e.record_id for e in chronology(conn, child, agency=POLICE)] == ["P-1"]
        assert len(chronology(conn, child, category="was_not_brought")) == 10
        # 11:00 UTC on the 5th, after H-5 (a date: midnight) and before H-6.
        window = chronology(conn, child, date_from=date(2026, 4, 5), date_to=date(2026, 4, 6))
        assert [e.record_id for e in window] == ["H-5", "P-1", "H-6"]
        late = chronology(conn, child, date_from=datetime(2026, 4, 5, 11, 0, 1, tzinfo=timezone.utc))
        assert late[0].record_id == "H-6"
        pages = [chronology(conn, child, limit=4, offset=o) for o in (0, 4, 8)]
        assert [len(p) for p in pages] == [4, 4, 3]
        assert [e.record_id for p in pages for e in p] == [e.record_id for e in chronology(conn, child)]


def test_a_childs_councils_are_its_records_local_authorities(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[0]}, "2026-01-02", "neglect", local_authority="309"),
                    concern(SCHOOL, "S-1", {"upn": UPN[0], "nhs_number": NHS[0]}, "2026-01-03", "neglect",
                            local_authority="310"))  # fmt: skip
    with services.engine.connect() as conn:
        assert child_local_authorities(conn, resolve_child(conn, upn=UPN[0]).id) == {"309", "310"}


# The property: any sequence of records and links, any moment -------------------------------------

_counter = itertools.count(1)


def fresh_nhs_numbers(seed: int, count: int) -> list[str]:
    """Valid NHS numbers of this test run only (a valid check digit, nothing more)."""
    found = []
    for n in itertools.count(seed * 1000 + 100000000):
        candidate = str(n)[:9]
        for digit in "0123456789":
            if nhs.is_valid(candidate + digit):
                found.append(candidate + digit)
                break
        if len(found) == count:
            return found


operations = st.lists(
    st.tuples(
        st.sampled_from(["concern", "concern", "amend", "retract", "link", "practitioner_link", "unlink"]),
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_chronology_matches_a_brute_force_recomputation_from_the_log(services, agencies, ops) -> None:
    run = next(_counter)
    numbers = fresh_nhs_numbers(run, 2)
    pool = [{"nhs_number": numbers[0]}, {"nhs_number": numbers[1]}, {"agency": POLICE, "local_id": f"R{run}-X"},
            {"agency": POLICE, "local_id": f"R{run}-Y"}, {"agency": HEALTH, "local_id": f"R{run}-X"}]  # fmt: skip
    written: list[dict] = []
    links: list[str] = []
    pending: list[dict] = []

    def subject(a: int, b: int, agency: str) -> dict:
        chosen = [pool[a % len(pool)], pool[b % len(pool)]]
        merged: dict = {}
        for ident in chosen:
            if "local_id" in ident and ident["agency"] != agency:
                continue
            merged.update({k: v for k, v in ident.items() if k != "agency"})
        return merged or {"nhs_number": numbers[0]}

    def flush() -> None:
        if pending:
            agencies.submit(*pending)
            pending.clear()

    for index, (kind, a, b, flag) in enumerate(ops):
        record_id = f"R{run}-{index}"
        agency = [POLICE, HEALTH, SCHOOL][a % 3]
        day = f"2026-0{1 + b % 3}-{1 + a % 28:02d}"
        occurred = day if flag else f"{day}T{b % 24:02d}:00:00+0{a % 3}:00"
        if kind == "concern" or (kind in ("amend", "retract") and not written):
            pending.append(concern(agency, record_id, subject(a, b, agency), occurred, "neglect"))
        elif kind == "amend":
            target = written[a % len(written)] if written else None
            if target["type"] == "identity_link" or target["type"] == "retraction":
                continue
            pending.append(amendment(target, record_id, subject=subject(a, b, target["agency"]), occurred_at=occurred))
        elif kind == "retract":
            target = written[a % len(written)]
            extra = {"subject": subject(a, b, target["agency"])} if flag else {}
            pending.append(retraction(target["agency"], record_id, target["record_id"], **extra))
        elif kind == "link":
            named = [pool[a % len(pool)], pool[b % len(pool)], pool[(a + b) % len(pool)]]
            pending.append(identity_link(SOCIAL_CARE, record_id, named))
        elif kind == "practitioner_link":
            flush()
            try:
                links.append(link_identities(agencies.services.ledger, [pool[a % len(pool)], pool[b % len(pool)]],
                                             by="sw-1", reason="Fictional: confirmed at strategy discussion").link_id)
            except InvalidPayload:
                continue  # the same identity twice
            agencies.services.runner.catch_up()
        else:  # unlink: a practitioner link, or an agency record's assertion
            flush()
            try:
                if flag and links:
                    link_id = links[a % len(links)]
                    unlink_identities(agencies.services.ledger, link_id=link_id, by="sw-1", reason="wrong")
                elif written:
                    target = written[a % len(written)]
                    unlink_identities(agencies.services.ledger, agency=target["agency"], record_id=target["record_id"],
                                      by="sw-1", reason="wrong")
            except LedgerError:
                continue  # already unlinked, or a record joining nothing
            agencies.services.runner.catch_up()
        if kind in ("concern", "amend", "retract", "link") and pending and pending[-1]["record_id"] == record_id:
            written.append(pending[-1])
        if b % 3 == 0:
            flush()
    flush()

    log = read_log(services)
    moments = sorted({item.recorded for item in log.records if item.payload.record_id.startswith(f"R{run}-")})
    moments += [m + 1 for m in moments[::2]]
    with services.engine.connect() as conn:
        for ident in pool:
            selector = dict(ident)
            key = next(iter(ChildIdentifiers(**ident).strong_keys()))
            for moment in [None, *moments]:
                as_of = None if moment is None else EPOCH + timedelta(microseconds=moment)
                expected = naive_chronology(log, key, moment)
                child = resolve_child(conn, **selector, as_of=as_of)
                if expected is None:
                    assert child is None
                    continue
                got = [(e.agency, e.record_id, e.status, e.leaf_index) for e in chronology(conn, child.id, as_of=as_of)]
                assert got == expected, (key, moment)
                assert set(child.keys) == naive_component(log, key, moment)

