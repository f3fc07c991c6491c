"""Pseudonyms for a published review and redaction for a subject access export (domain/pseudonyms.py,
domain/redaction.py): consistent, deterministic, and no real name or identifier survives."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.pseudonyms import (
    BIRTH_DATE_REMOVED,
    CHILD,
    Case,
    CaseAgency,
    CaseEntry,
    agency_pseudonyms,
    leaks,
    pseudonymise,
)
from domain.redaction import REDACTED, SubjectAccessRedactor, people_in

# Names of consonants only: no English word a template uses can collide with one.
NAME = st.text(alphabet="bcdfghjklmnpqrstvwxz", min_size=3, max_size=8).map(str.capitalize)
CUES = ("Mother (", "Father (", "her new partner, ", "sister ", "adult male ", "a neighbour, ")
AGENCIES = (CaseAgency("p-1", "Fictional Constabulary", "police"), CaseAgency("h-1", "Fictional Trust", "health"),
            CaseAgency("h-2", "Fictional Health Visiting Team", "health"))  # fmt: skip


@st.composite
def cases(draw) -> tuple[Case, list[tuple[str, str]], list[list[int]]]:
    """A case: the child, some people each introduced by a relationship word and mentioned again by
    full or given name, an NHS number, a postcode and a date of birth in the text too. Returns the
    case, the people (given, family) and which people each entry mentions."""
    parts = draw(st.lists(NAME, min_size=4, max_size=12, unique_by=str.casefold))
    child_given, child_family, rest = parts[0], parts[1], parts[2:]
    people = [(rest[i], rest[i + 1]) for i in range(0, len(rest) - 1, 2)]
    cues = [draw(st.sampled_from(CUES)) for _ in people]
    entries, mentions = [], []
    for index, ((given_name, family), cue) in enumerate(zip(people, cues, strict=True)):
        close = ")" if cue.endswith("(") else ""
        entries.append(f"{child_given} seen. {cue}{given_name} {family}{close} was present.")
        mentions.append([index])
    for _ in range(draw(st.integers(0, 4))):
        chosen = draw(st.lists(st.integers(0, len(people) - 1), min_size=1, max_size=2, unique=True)) if people else []
        said = " and ".join(f"{people[i][0]} {people[i][1]}" if draw(st.booleans()) else people[i][0] for i in chosen)
        entries.append(f"Visit to {child_given} {child_family}, 9434765919, at NS1 4QT, born 14/09/2021. {said} spoke.")
        mentions.append(chosen)
    order = draw(st.permutations(list(range(len(entries)))))
    entries, mentions = [entries[i] for i in order], [mentions[i] for i in order]
    case = Case(
        child_names=(f"{child_given} {child_family}", child_given, child_family),
        child_identifiers=("9434765919",),
        postcodes=("NS1 4QT",),
        dates_of_birth=("2021-09-14",),
        agencies=AGENCIES,
        entries=tuple(CaseEntry("2026-03-01", AGENCIES[i % 3].id, "neglect", "concern", "current", text)
                      for i, text in enumerate(entries)),  # fmt: skip
    )
    return case, [*people, (child_given, child_family)], mentions


@settings(max_examples=150, deadline=None)
@given(cases())
def test_no_real_name_or_identifier_survives_and_each_person_keeps_one_pseudonym(drawn):
    case, people, mentions = drawn
    review = pseudonymise(case)
    text = json.dumps(review.entries)
    real = [part for person in people for part in person] + ["9434765919", "NS1 4QT", "14/09/2021"]
    real += [agency.name for agency in AGENCIES] + [agency.id for agency in AGENCIES]
    assert leaks(text, real) == [], text
    for index, (given_name, family) in enumerate(people[:-1]):
        (pseudonym,) = [p for p, who in review.mapping.items() if f"{given_name} {family}" in who.get("names", ())]
        for entry, mentioned in zip(review.entries, mentions, strict=True):
            if index in mentioned:
                assert pseudonym in entry["summary"], (pseudonym, entry["summary"])
    assert all(entry["summary"].startswith(CHILD) or CHILD in entry["summary"] for entry in review.entries)
    assert pseudonymise(case) == review  # deterministic


@settings(max_examples=100, deadline=None)
@given(cases())
def test_the_subject_access_redactor_keeps_the_child_and_takes_out_everyone_else(drawn):
    case, people, _ = drawn
    texts = [entry.summary for entry in case.entries]
    redact = SubjectAccessRedactor(frozenset(case.child_names), frozenset(case.child_identifiers + case.postcodes),
                                   texts=texts)  # fmt: skip
    out = "\n".join(redact(text) for text in texts)
    assert leaks(out, [part for person in people[:-1] for part in person]) == [], out
    assert people[-1][0] in out  # the child's own name stays
    if len(people) > 1:
        assert REDACTED in out and redact.withheld()[0].count >= len(people) - 1


def test_the_records_relationships_choose_the_pseudonyms():
    texts = ["Mother (Jade Example) warm.", "Adult female Jade Example and adult male Dale Sample present.",
             "Her new partner, Dale Sample, moved in.", "Robin's brother Kit Example visited."]  # fmt: skip
    found = people_in(texts, ["Lark Example", "Lark"])
    assert [(p.name, p.relation) for p in found] == [("Jade Example", "mother"), ("Dale Sample", "adult"),
                                                     ("Kit Example", "sibling")]  # fmt: skip
    case = Case(("Lark Example", "Lark"), (), (), (), AGENCIES[:1],
                tuple(CaseEntry("2026-01-02", "p-1", None, "concern", "current", t) for t in texts))  # fmt: skip
    shown = [entry["summary"] for entry in pseudonymise(case).entries]
    assert shown == ["Mother warm.", "Adult female Mother and adult male Adult 1 present.",
                     "Her new partner, Adult 1, moved in.", "Robin's brother Sibling 1 visited."]  # fmt: skip


def test_agencies_are_named_by_kind_and_numbered_within_a_kind():
    named = agency_pseudonyms([*AGENCIES, CaseAgency("h-3", "Another Fictional Trust", "health"),
                               CaseAgency("x", "Fictional Shelter", "voluntary_sector")])  # fmt: skip
    assert named == {"p-1": "Police", "h-1": "Health 1", "h-2": "Health visiting", "h-3": "Health 2",
                     "x": "Voluntary sector"}  # fmt: skip


def test_dates_of_birth_go_and_an_event_on_one_is_shown_by_its_month():
    case = Case(("Lark",), (), (), ("2026-03-09",), AGENCIES[:1], (
        CaseEntry("2026-03-09T10:00:00+00:00", "p-1", None, "concern", "current", "Born 9 March 2026 at home."),
        CaseEntry("2026-04-01", "p-1", None, "concern", "current", "DOB 2026-03-09, ref NP-X-123, NHS 943 476 5919."),
    ))  # fmt: skip
    first, second = pseudonymise(case).entries
    assert first["date"] == "2026-03" and first["summary"] == f"Born {BIRTH_DATE_REMOVED} at home."
    assert second["date"] == "2026-04-01"
    assert second["summary"] == f"DOB {BIRTH_DATE_REMOVED}, ref [reference removed], NHS [identifier removed]."


def test_a_subject_access_export_keeps_the_childs_identifiers_and_withholds_others():
    redact = SubjectAccessRedactor(frozenset({"Lark Example"}), frozenset({"9434765919", "NS1 4QT"}),
                                   frozenset({"Robin Other", "Robin"}), frozenset({"Pat Staffer"}),
                                   texts=["Robin visited with Pat Staffer."])  # fmt: skip
    said = redact("Lark (9434765919, NS1 4QT) with Robin, 4010232137, of ZZ9 9ZZ; seen by Pat Staffer.")
    assert said == (f"Lark (9434765919, NS1 4QT) with {REDACTED}, {REDACTED}, of {REDACTED}; seen by {REDACTED}.")
    assert [(w.what, w.count) for w in redact.withheld()] == [
        ("names of third parties redacted", 1), ("names of agency staff redacted", 1),
        ("identifiers of third parties redacted (NHS numbers, UPNs, postcodes, references)", 2)]  # fmt: skip
