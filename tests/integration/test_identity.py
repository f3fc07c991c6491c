"""Identity: strong identifiers and recorded links join records into one child; demographics only suggest.

The property test checks, for any sequence of links and unlinks, that the current children are the
connected components of the links in force and each keeps the id of its earliest identifier.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from domain.errors import AlreadyExists, InvalidPayload, NotFound
from domain.links import link_identities, unlink_identities
from projections.identity import identity_links, keys, resolve_child
from projections.matching import possible_matches
from tests.fictional_case import (
    HEALTH,
    NHS,
    POLICE,
    SCHOOL,
    SOCIAL_CARE,
    UPN,
    agencies,  # noqa: F401  (fixture)
    concern,
    identity_link,
    retraction,
    school_case,
)

POLICE_REF = {"local_id": "NP-P-58812", "agency": POLICE}


def resolve(services, as_of=None, **selector):
    with services.engine.connect() as conn:
        return resolve_child(conn, **selector, as_of=as_of)


def test_records_sharing_an_nhs_number_are_one_child(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[0]}, "2026-01-02", "neglect"),
                    concern(SCHOOL, "S-1", {"nhs_number": NHS[0], "upn": UPN[0]}, "2026-01-03", "neglect"))  # fmt: skip
    child = resolve(services, upn=UPN[0])
    assert child == resolve(services, nhs_number=NHS[0])
    assert child.identifiers == [{"nhs_number": NHS[0]}, {"upn": UPN[0]}]
    assert child.to_dict() == {"id": child.id, "identifiers": child.identifiers}
    assert resolve(services, nhs_number=NHS[1]) is None


def test_local_ids_are_scoped_to_their_agency(services, agencies) -> None:
    agencies.submit(concern(POLICE, "P-1", {"local_id": "A-1"}, "2026-01-02", "neglect"),
                    concern(HEALTH, "H-1", {"local_id": "A-1"}, "2026-01-02", "neglect"))  # fmt: skip
    police = resolve(services, local_id="A-1", agency=POLICE)
    health = resolve(services, local_id="A-1", agency=HEALTH)
    assert police.id != health.id
    assert police.identifiers == [{"agency": POLICE, "local_id": "A-1"}]


def test_an_identity_link_joins_children_and_every_old_id_still_resolves(services, agencies) -> None:
    school_case(agencies, link=False)
    police, health, school = (resolve(services, **POLICE_REF), resolve(services, nhs_number=NHS[0]),
                              resolve(services, upn=UPN[0]))  # fmt: skip
    assert len({police.id, health.id, school.id}) == 3
    before_link = datetime.now(timezone.utc)
    agencies.submit(identity_link(SOCIAL_CARE, "MASH-1", [{"nhs_number": NHS[0]}, {"upn": UPN[0]}, POLICE_REF]))
    joined = resolve(services, nhs_number=NHS[0])
    assert joined.id == police.id  # the police reference was seen first: the older id stays
    assert {joined} == {resolve(services, child=old.id) for old in (police, health, school)}
    assert len(joined.identifiers) == 3
    # As it stood before the link, each identifier named its own child, with its own id.
    assert resolve(services, before_link, nhs_number=NHS[0]) == health
    assert resolve(services, before_link, child=school.id) == school


def test_a_practitioner_links_and_unlinks_and_the_past_still_shows_the_join(services, agencies) -> None:
    school_case(agencies, link=False)
    health, school = resolve(services, nhs_number=NHS[0]), resolve(services, upn=UPN[0])
    link = link_identities(services.ledger, [{"nhs_number": NHS[0]}, {"upn": UPN[0]}], by="sw-12 (fictional)",
                           reason="Fictional: mother confirmed both at the home visit.")  # fmt: skip
    services.runner.catch_up()
    assert resolve(services, upn=UPN[0]).id == health.id
    while_linked = datetime.now(timezone.utc)
    unlink_identities(services.ledger, link_id=link.link_id, by="sw-12 (fictional)", reason="Fictional: twins.")
    services.runner.catch_up()
    assert resolve(services, upn=UPN[0]) == school and resolve(services, nhs_number=NHS[0]) == health
    assert resolve(services, while_linked, upn=UPN[0]).id == health.id
    with services.engine.connect() as conn:
        (fact,) = identity_links(conn, health.id)
    assert (fact.fact_id, fact.source, fact.linked_by) == (link.link_id, "practitioner", "sw-12 (fictional)")
    assert fact.withdrawn_at is not None
    with pytest.raises(AlreadyExists):
        unlink_identities(services.ledger, link_id=link.link_id, by="sw-12", reason="again")


def test_unlinking_an_agency_records_assertion_or_retracting_it_splits_the_child(services, agencies) -> None:
    school_case(agencies)
    assert resolve(services, upn=UPN[0]) == resolve(services, nhs_number=NHS[0])
    unlink_identities(services.ledger, agency=SOCIAL_CARE, record_id="MASH-2026-0042", by="sw-3", reason="wrong child")
    services.runner.catch_up()
    assert resolve(services, upn=UPN[0]) != resolve(services, nhs_number=NHS[0])
    with pytest.raises(AlreadyExists):
        unlink_identities(services.ledger, agency=SOCIAL_CARE, record_id="MASH-2026-0042", by="sw-3", reason="again")
    agencies.submit(identity_link(SOCIAL_CARE, "MASH-2", [{"nhs_number": NHS[0]}, {"upn": UPN[0]}]))
    assert resolve(services, upn=UPN[0]) == resolve(services, nhs_number=NHS[0])
    agencies.submit(retraction(SOCIAL_CARE, "MASH-2r", "MASH-2"))
    assert resolve(services, upn=UPN[0]) != resolve(services, nhs_number=NHS[0])


def test_links_and_unlinks_refuse_what_they_cannot_mean(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[0]}, "2026-01-02", "neglect"))
    ledger = services.ledger
    with pytest.raises(InvalidPayload):
        link_identities(ledger, [{"nhs_number": NHS[0]}, {"nhs_number": NHS[0]}], by="sw", reason="same")
    with pytest.raises(InvalidPayload):
        link_identities(ledger, [{"nhs_number": NHS[0]}, {"local_id": "X"}], by="sw", reason="no agency")
    with pytest.raises(NotFound):
        link_identities(ledger, [{"nhs_number": NHS[0]}, {"local_id": "X", "agency": "nowhere"}], by="sw", reason="r")
    with pytest.raises(InvalidPayload):
        link_identities(ledger, [{"nhs_number": NHS[0]}, {"upn": UPN[0], "given_name": "A"}], by="sw", reason="r")
    with pytest.raises(InvalidPayload):
        unlink_identities(ledger, agency=HEALTH, record_id="H-1", by="sw", reason="joins nothing")
    with pytest.raises(NotFound):
        unlink_identities(ledger, link_id="00000000-0000-0000-0000-000000000000", by="sw", reason="r")
    with pytest.raises(InvalidPayload):
        unlink_identities(ledger, by="sw", reason="r")


def test_demographics_suggest_a_possible_match_with_reasons_and_never_merge(services, agencies) -> None:
    school_case(agencies, link=False)
    agencies.submit(concern(HEALTH, "H-9", {"nhs_number": NHS[1], "given_name": "Morgan", "family_name": "Hart",
                                            "date_of_birth": "2021-09-14"}, "2026-01-02", "neglect"))  # fmt: skip
    police = resolve(services, **POLICE_REF)
    with services.engine.connect() as conn:
        matches = possible_matches(conn, police.id)
    assert [m.child for m in matches] == [resolve(services, nhs_number=NHS[0])]
    (match,) = matches
    assert "same date of birth" in match.reasons
    assert any("'Riley Heart' / 'Riley Hart'" in reason for reason in match.reasons)
    assert match.similarity > 0.9 and match.to_dict()["child"]["identifiers"] == [{"nhs_number": NHS[0]}]
    assert resolve(services, **POLICE_REF) == police  # a suggestion, never a merge


# The property: current children are the components of the links in force --------------------------

_runs = itertools.count(1)
steps = st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 5), st.integers(0, 20)), max_size=15)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_children_are_the_components_of_the_links_in_force(services, agencies, steps) -> None:
    run = next(_runs)
    refs = [f"K{run}-{i}" for i in range(6)]
    agencies.submit(*(concern(POLICE, f"{r}-r", {"local_id": r}, "2026-01-01", "neglect") for r in refs))
    made: list[tuple[str, int, int]] = []
    for is_link, a, b, pick in steps:
        if is_link and a != b:
            pair = [{"agency": POLICE, "local_id": refs[a]}, {"agency": POLICE, "local_id": refs[b]}]
            link = link_identities(services.ledger, pair, by="sw", reason="r")
            made.append((link.link_id, a, b))
        elif not is_link and made:
            link_id, _, _ = made.pop(pick % len(made))
            unlink_identities(services.ledger, link_id=link_id, by="sw", reason="r")
        services.runner.catch_up()
    parent = list(range(6))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for _, a, b in made:
        parent[max(find(a), find(b))] = min(find(a), find(b))  # the earliest reference wins
    with services.engine.connect() as conn:
        named = [f"local:{POLICE}:{ref}" for ref in refs]
        own = dict(conn.execute(select(keys.c.key, keys.c.own_id).where(keys.c.key.in_(named))).all())
        for i, ref in enumerate(refs):
            child = resolve_child(conn, local_id=ref, agency=POLICE)
            members = {j for j in range(6) if find(j) == find(i)}
            assert set(child.keys) == {f"local:{POLICE}:{refs[j]}" for j in members}
            assert child.id == own[f"local:{POLICE}:{refs[find(i)]}"]
