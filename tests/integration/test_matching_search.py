"""Possible matches as known at a moment, each reason once, and finding children by name and date of
birth with the reasons in words: the read models alone, on both backends."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.identity import resolve_child
from projections.matching import children_by_name, possible_matches
from tests.fictional_case import (
    HEALTH,
    NHS,
    POLICE,
    SOCIAL_CARE,
    agencies,  # noqa: F401  (fixture)
    concern,
    identity_link,
)

RILEY = {"nhs_number": NHS[0], "given_name": "Riley", "family_name": "Hart", "date_of_birth": "2021-09-14",
         "postcode": "ZZ9 9ZZ"}  # fmt: skip
BY_POLICE = {"local_id": "NP-P-1", "given_name": "Riley", "family_name": "Heart", "date_of_birth": "2021-09-14",
             "postcode": "ZZ9 9ZZ"}  # fmt: skip


def _child(services, **selector):
    with services.engine.connect() as conn:
        return resolve_child(conn, **selector)


def _matches(services, as_of=None):
    with services.engine.connect() as conn:
        return possible_matches(conn, _child(services, nhs_number=NHS[0]).id, as_of=as_of)


def test_matches_are_as_known_at_the_moment_asked(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", RILEY, "2026-01-02", "neglect"))
    before_police = datetime.now(timezone.utc)
    agencies.submit(concern(POLICE, "P-1", BY_POLICE, "2026-01-03", "domestic_abuse"))
    before_link = datetime.now(timezone.utc)
    joined = [{"nhs_number": NHS[0]}, {"agency": POLICE, "local_id": "NP-P-1"}]
    agencies.submit(identity_link(SOCIAL_CARE, "L-1", joined))
    assert _matches(services) == []  # joined now: no longer a suggestion
    assert _matches(services, as_of=before_police) == []  # the police record was not there yet
    (then,) = _matches(services, as_of=before_link)
    assert then.child.keys == (f"local:{POLICE}:NP-P-1",)
    assert then.reasons == ("similar name: 'Riley Hart' / 'Riley Heart' (Jaro-Winkler 0.98)", "same date of birth",
                            "same postcode")  # fmt: skip


def test_each_kind_of_reason_is_given_once_whatever_the_profiles(services, agencies) -> None:
    agencies.submit(
        concern(HEALTH, "H-1", RILEY, "2026-01-02", "neglect"),
        concern(HEALTH, "H-2", {**RILEY, "given_name": "Rylee"}, "2026-01-05", "neglect"),
        concern(POLICE, "P-1", BY_POLICE, "2026-01-03", "domestic_abuse"),
        concern(POLICE, "P-2", {**BY_POLICE, "family_name": "Harte"}, "2026-01-04", "domestic_abuse"),
    )
    (match,) = _matches(services)
    assert len(match.reasons) == 3 and len({r.split(":")[0] for r in match.reasons}) == 3
    assert match.reasons[0].startswith("same name: 'Riley Hart'") or "Jaro-Winkler" in match.reasons[0]


def test_a_child_is_found_by_name_and_date_of_birth_with_the_reason_in_words(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", RILEY, "2026-01-02", "neglect"),
                    concern(POLICE, "P-1", {**BY_POLICE, "date_of_birth": "2021-09-15"}, "2026-01-03", "neglect"))
    with services.engine.connect() as conn:
        (exact,) = children_by_name(conn, date_of_birth="2021-09-14", given_name="riley", family_name="HART")
        (close,) = children_by_name(conn, date_of_birth="2021-09-14", given_name="Rilley", family_name="Hart")
        (family,) = children_by_name(conn, date_of_birth="2021-09-14", family_name="Hart")
        assert children_by_name(conn, date_of_birth="2021-09-14", given_name="Morgan", family_name="Hart") == []
        assert children_by_name(conn, date_of_birth="2021-09-13", given_name="Riley", family_name="Hart") == []
    assert exact.child == _child(services, nhs_number=NHS[0]) and exact.stated_name == "Riley Hart"
    assert exact.reasons == ("given name, family name and date of birth match exactly",)
    assert close.reasons[0].startswith("family name and date of birth match exactly; given name similar (Jaro-Winkler")
    assert family.reasons == ("family name and date of birth match exactly",)


names = st.text(st.characters(codec="ascii", categories=("Lu", "Ll")), min_size=1, max_size=12)


@given(given_name=names, family_name=names)
def test_a_name_always_finds_itself_exactly(given_name, family_name) -> None:
    from projections.matching import _why

    class Row:
        pass

    row = Row()
    row.given_name, row.family_name, row.aliases = given_name, family_name, "[]"
    score, why = _why(row, given_name.upper(), family_name.lower(), 0.88)
    assert score == 1.0 and why == "given name, family name and date of birth match exactly"
