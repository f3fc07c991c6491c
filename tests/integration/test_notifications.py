"""What councils are told (SPEC 6.2, 6.3), read from the notifications read model on both backends.

A brute-force replay of the whole log, sharing no code with projections/notifications.py, says for
each entry which council must be told what; any sequence of records, amendments, retractions,
identity links, practitioner links, unlinks and break-glass reads, applied in any batches, must give
exactly its rows, and rebuilding the read model (in any batch size) must give the same rows again.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from domain.access import Access, log_access
from domain.errors import InvalidPayload, LedgerError
from domain.identifiers import ChildIdentifiers
from domain.links import IdentityLink, RecordLinkWithdrawal, link_identities, unlink_identities
from domain.records import Record, parse_payload, record_aggregate_id
from projections.chronology import child_local_authorities
from projections.identity import keys as identity_keys_table
from projections.identity import resolve_child
from projections.notifications import NotificationsProjection, council_notifications, notices
from projections.runner import ProjectionRunner
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
)
from tests.integration.test_chronology import fresh_nhs_numbers

# The oracle ---------------------------------------------------------------------------------------


@dataclass
class _Record:
    keys: list[str]
    council: str | None
    current: bool = True


def _strong(idents) -> list[str]:
    found: list[str] = []
    for ident in idents:
        for key in ident.strong_keys():
            if key not in found:
                found.append(key)
    return found


def expected(services) -> set[tuple]:
    """``(leaf, council, kind, child, councils, agency, record_id, reason)`` for every notification
    the log calls for, by replaying it naively: a child's councils are its current records'."""
    with services.engine.connect() as conn:
        key_of = dict(conn.execute(select(identity_keys_table.c.own_id, identity_keys_table.c.key)).all())
    own_of = {key: own for own, key in key_of.items()}
    records: dict[tuple[str, str], _Record] = {}
    joins: dict[str, set[str]] = {}  # facts in force
    first: dict[str, tuple[int, int]] = {}
    told: set[tuple] = set()

    def component(key: str) -> set[str]:
        reached = {key}
        while True:
            grown = set().union(reached, *(k for k in joins.values() if k & reached))
            if grown == reached:
                return reached
            reached = grown

    def councils(comp: set[str]) -> frozenset[str]:
        return frozenset(r.council for r in records.values() if r.current and r.council and set(r.keys) & comp)

    def children(touched) -> list[tuple[frozenset, frozenset]]:
        found = {frozenset(component(k)) for k in touched if k in first}
        return [(c, councils(set(c))) for c in found]

    def child_id(comp) -> str:
        return own_of[min(comp, key=lambda k: first[k])]

    def compare(leaf, before, after, agency=None, record_id=None, reason=None) -> None:
        for comp, now in after:
            parts = [had for c, had in before if c & comp]
            had = frozenset().union(*parts)
            with_councils = [p for p in parts if p]
            if len(with_councils) >= 2 and len(set(with_councils)) > 1:
                for council in had | now:
                    told.add((leaf, council, "cross_council_link", child_id(comp), tuple(sorted(had | now)),
                              agency, record_id, reason))  # fmt: skip
            elif now - had:
                for council in had:
                    told.add((leaf, council, "new_council", child_id(comp), tuple(sorted(now - had)),
                              agency, record_id, reason))  # fmt: skip

    notifications = services.ledger.recorder.select_notifications(start=0, limit=10**9, inclusive_of_start=False)
    for leaf, notification in enumerate(notifications):
        event = services.ledger.mapper.to_domain_event(notification)
        if isinstance(event, Record.Recorded):
            p = parse_payload(json.loads(base64.b64decode(event.payload)))
            named = _strong(([p.subject] if p.subject else []) + list(p.same_child))
            for ordinal, key in enumerate(named):
                first.setdefault(key, (notification.id, ordinal))
            target = records.get((p.agency, p.amends)) if p.amends else None
            keys = named or (target.keys if target else [])
            touched = set(keys) | set(target.keys if target else [])
            before = children(touched)
            if target:
                target.current = False
                joins.pop(str(record_aggregate_id(p.agency, p.amends)), None)
            records[(p.agency, p.record_id)] = _Record(keys, p.local_authority)
            if len(named) >= 2:
                joins[str(event.originator_id)] = set(named)
            compare(leaf, before, children(touched), p.agency, p.record_id)
        elif isinstance(event, IdentityLink.Linked):
            named = _strong(ChildIdentifiers(**ident) for ident in event.identifiers)
            for ordinal, key in enumerate(named):
                first.setdefault(key, (notification.id, ordinal))
            before = children(named)
            joins[str(event.originator_id)] = set(named)
            compare(leaf, before, children(named), reason=event.reason)
        elif isinstance(event, IdentityLink.Unlinked):
            joins.pop(str(event.originator_id), None)
        elif isinstance(event, RecordLinkWithdrawal.Withdrawn):
            joins.pop(str(record_aggregate_id(event.agency, event.record_id)), None)
        elif isinstance(event, (Access.Logged, Access.LoggedV2)) and event.break_glass:
            comp = component(key_of[event.child])
            for council in councils(comp) - {event.local_authority}:
                told.add((leaf, council, "break_glass_read", child_id(comp), (event.local_authority,),
                          None, None, event.reason))  # fmt: skip
    return told


def stored(services) -> set[tuple]:
    with services.engine.connect() as conn:
        rows = conn.execute(select(notices)).all()
    return {(r.leaf_index, r.council, r.kind, r.child, tuple(r.councils.split(",")), r.agency, r.record_id, r.reason)
            for r in rows}  # fmt: skip


def all_rows(services) -> dict[str, list[tuple]]:
    with services.engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t))), key=repr)
                for t in services.runner.projections["notifications"].tables}  # fmt: skip


def rebuilt_alike(services) -> None:
    """A rebuild, in the runner's batches and one entry at a time, leaves exactly the same rows."""
    built = all_rows(services)
    services.runner.rebuild("notifications")
    assert all_rows(services) == built
    one_by_one = ProjectionRunner(services.ledger, services.engine, [NotificationsProjection()], batch_size=1)
    one_by_one.rebuild("notifications")
    assert all_rows(services) == built


def read_by_break_glass(services, child_id: str, council: str, reason: str) -> None:
    log_access(services.ledger, token_id="tok-1", role="practitioner", local_authority=council, child=child_id,
               read="chronology", query={"child": child_id}, break_glass=True, reason=reason)  # fmt: skip
    services.runner.catch_up()


# Examples ----------------------------------------------------------------------------------------


def test_a_childs_councils_are_those_of_its_current_records_only(services, agencies) -> None:
    first = concern(POLICE, "P-1", {"nhs_number": NHS[0]}, "2026-01-02", "neglect", local_authority="310")
    agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[0]}, "2026-01-01", "neglect", local_authority="309"),
                    first, concern(SCHOOL, "S-1", {"nhs_number": NHS[0]}, "2026-01-03", "neglect",
                                   local_authority="312"))  # fmt: skip
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=NHS[0]).id
        assert child_local_authorities(conn, child) == {"309", "310", "312"}
    agencies.submit(amendment(first, "P-1a", local_authority="311"), retraction(SCHOOL, "S-1r", "S-1"))
    with services.engine.connect() as conn:
        assert child_local_authorities(conn, child) == {"309", "311"}


def test_each_council_is_told_what_concerns_its_children(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[0]}, "2026-01-01", "neglect", local_authority="309"),
                    concern(SCHOOL, "S-1", {"upn": UPN[0]}, "2026-01-02", "neglect", local_authority="310"))
    agencies.submit(concern(POLICE, "P-1", {"nhs_number": NHS[0]}, "2026-01-03", "neglect", local_authority="311"))
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=NHS[0]).id
        (told,) = council_notifications(conn, "309")
        assert council_notifications(conn, "311") == []  # the new council is not "told", it holds the record
    assert (told.kind, told.child, told.councils, told.agency, told.record_id) == (
        "new_council", child, ["311"], POLICE, "P-1")
    agencies.submit(identity_link(SOCIAL_CARE, "L-1", [{"nhs_number": NHS[0]}, {"upn": UPN[0]}]))
    read_by_break_glass(services, child, "312", "Fictional: child at A&E in our area")
    with services.engine.connect() as conn:
        by_council = {c: [(n.kind, n.councils, n.record_id, n.who, n.reason) for n in council_notifications(conn, c)]
                      for c in ("309", "310", "311", "312")}  # fmt: skip
    bg = ("break_glass_read", ["312"], None, "tok-1", "Fictional: child at A&E in our area")
    link = ("cross_council_link", ["309", "310", "311"], "L-1", None, None)
    assert by_council == {"309": [bg, link, ("new_council", ["311"], "P-1", None, None)], "310": [bg, link],
                          "311": [bg, link], "312": []}  # fmt: skip
    with services.engine.connect() as conn:
        page = council_notifications(conn, "309", limit=1, offset=1)
    assert [n.record_id for n in page] == ["L-1"]
    assert stored(services) == expected(services)
    rebuilt_alike(services)


def test_a_retracted_record_gives_no_council_and_an_amendment_may_give_a_new_one(services, agencies) -> None:
    first = concern(POLICE, "P-1", {"nhs_number": NHS[0]}, "2026-01-02", "neglect", local_authority="309")
    agencies.submit(first, concern(HEALTH, "H-9", {"nhs_number": NHS[0]}, "2026-01-03", "neglect",
                                   local_authority="310"))  # fmt: skip
    agencies.submit(retraction(HEALTH, "H-9r", "H-9"))
    agencies.submit(amendment(first, "P-1a", local_authority="311"))
    with services.engine.connect() as conn:
        told = [(n.kind, n.councils, n.record_id) for n in council_notifications(conn, "309")]
        assert council_notifications(conn, "310") == []  # retracted: no longer one of the child's councils
    assert told == [("new_council", ["311"], "P-1a"), ("new_council", ["310"], "H-9")]
    assert stored(services) == expected(services)


# The property ------------------------------------------------------------------------------------

_runs = itertools.count(1)
COUNCILS = ("309", "310", "311", None)

operations = st.lists(
    st.tuples(
        st.sampled_from(["concern", "concern", "concern", "amend", "retract", "link", "practitioner_link",
                         "practitioner_link", "unlink", "withdraw", "break_glass"]),
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.booleans(),
    ),
    min_size=4,
    max_size=16,
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_notifications_match_a_brute_force_replay_of_the_log(services, agencies, ops) -> None:
    run = next(_runs)
    numbers = fresh_nhs_numbers(run + 500, 3)
    pool = [{"nhs_number": n} for n in numbers] + [{"agency": POLICE, "local_id": f"N{run}-X"}]
    written: list[dict] = []
    links: list[str] = []
    pending: list[dict] = []

    def flush() -> None:
        if pending:
            agencies.submit(*pending)
            pending.clear()

    def subject(a: int, agency: str) -> dict:
        ident = pool[a % len(pool)]
        return {"nhs_number": numbers[0]} if "local_id" in ident and agency != POLICE else {
            k: v for k, v in ident.items() if k != "agency"}  # fmt: skip

    for index, (kind, a, b, flag) in enumerate(ops):
        record_id, agency, council = f"N{run}-{index}", [POLICE, HEALTH, SCHOOL][a % 3], COUNCILS[b % 4]
        extra = {} if council is None else {"local_authority": council}
        if kind == "concern" or (kind in ("amend", "retract", "withdraw") and not written):
            pending.append(concern(agency, record_id, subject(a, agency), "2026-02-01", "neglect", **extra))
        elif kind == "amend":
            target = written[a % len(written)]
            if target["type"] in ("identity_link", "retraction"):
                continue
            pending.append(amendment(target, record_id, subject=subject(b, target["agency"]), **extra))
        elif kind == "retract":
            target = written[a % len(written)]
            pending.append(retraction(target["agency"], record_id, target["record_id"], **(extra if flag else {})))
        elif kind == "link":
            named = [pool[a % len(pool)], pool[b % len(pool)], pool[(a + b) % len(pool)]]
            pending.append({**identity_link(SOCIAL_CARE, record_id, named), **extra})
        else:
            flush()
            try:
                if kind == "practitioner_link":
                    links.append(link_identities(services.ledger, [pool[a % len(pool)], pool[b % len(pool)]],
                                                 by="sw-1", reason=f"Fictional {index}").link_id)  # fmt: skip
                elif kind == "unlink" and links:
                    unlink_identities(services.ledger, link_id=links[a % len(links)], by="sw-1", reason="wrong")
                elif kind == "withdraw":
                    target = written[a % len(written)]
                    unlink_identities(services.ledger, agency=target["agency"], record_id=target["record_id"],
                                      by="sw-1", reason="wrong")  # fmt: skip
                elif kind == "break_glass":
                    with services.engine.connect() as conn:
                        child = resolve_child(conn, **pool[a % len(pool)])
                    if child is not None:
                        reader = COUNCILS[b % 3] if flag else "312"
                        log_access(services.ledger, token_id="tok-1", role="practitioner", local_authority=reader,
                                   child=child.id, read="chronology", query={"child": child.id}, break_glass=True,
                                   reason=f"Fictional {index}")  # fmt: skip
            except (InvalidPayload, LedgerError):
                continue  # the same identity twice, already unlinked, or a record joining nothing
            if flag:
                services.runner.catch_up()
        if kind in ("concern", "amend", "retract", "link") and pending and pending[-1]["record_id"] == record_id:
            written.append(pending[-1])
        if a % 3 == 0:
            flush()
    flush()
    services.runner.catch_up()
    assert stored(services) == expected(services)
    rebuilt_alike(services)
