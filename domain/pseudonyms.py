"""Consistent pseudonyms for a published review of one child's chronology.

Practice reviews publish chronologies as "Child A", "Mother", "Adult 1", "Sibling 1", each agency by
its kind ("Police", "Health 2"). Here one person always gets one pseudonym across the whole document,
chosen by the relationship the records state (domain/redaction.py finds people in the text), numbered
in order of first mention so the same case always reads the same. Identifiers, postcodes and dates
of birth are removed rather than renamed; event dates are kept (reviews publish them), except that
an event dated on a date of birth in the case is shown by its month. Agencies' own references are
removed too. The mapping back to real names is returned apart from the document and never put in it.
Pure: no I/O, deterministic.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from domain.redaction import NHS_NUMBER, POSTCODE, REFERENCE, UPN, Replacer, name_parts, people_in

CHILD = "Child A"
IDENTIFIER_REMOVED = "[identifier removed]"
POSTCODE_REMOVED = "[postcode removed]"
BIRTH_DATE_REMOVED = "[date of birth removed]"
REFERENCE_REMOVED = "[reference removed]"
_AGENCY_KINDS = {"police": "Police", "health": "Health", "school": "School", "early_years": "Early years",
                 "social_care": "Children's social care", "housing": "Housing", "probation": "Probation"}  # fmt: skip
#: words in an agency's name that say what kind of service it is, more closely than its kind does.
_SERVICES = (("health visiting", "Health visiting"), ("emergency department", "Emergency department"),
             ("gp practice", "GP practice"), ("surgery", "GP practice"), ("nursery", "Nursery"),
             ("school", "School"), ("police", "Police"))  # fmt: skip
_PEOPLE = {"mother": "Mother", "father": "Father", "sibling": "Sibling", "adult": "Adult", "person": "Person"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip


@dataclass(frozen=True, slots=True)
class CaseAgency:
    id: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class CaseEntry:
    """One chronology entry as the ledger holds it (``date`` as the agency wrote ``occurred_at``)."""

    date: str | None
    agency: str
    category: str | None
    type: str
    status: str
    summary: str | None = None
    action_taken: str | None = None
    author_role: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """What the pseudonymiser needs to know of a child's case: the child's own names, identifiers,
    postcodes and dates of birth, the agencies, names known from the ledger of other subjects and
    staff, and the entries."""

    child_names: tuple[str, ...]
    child_identifiers: tuple[str, ...]
    postcodes: tuple[str, ...]
    dates_of_birth: tuple[str, ...]  # YYYY-MM-DD
    agencies: tuple[CaseAgency, ...]
    entries: tuple[CaseEntry, ...]
    other_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pseudonymised:
    """The review document's entries and, apart, the reviewer's mapping pseudonym -> who it is."""

    entries: list[dict]
    mapping: dict[str, dict]


def agency_pseudonyms(agencies: Iterable[CaseAgency]) -> dict[str, str]:
    """Each agency by its kind, numbered in order where the case has more than one of a kind."""
    agencies = list(dict.fromkeys(agencies))
    labels = [_agency_label(a) for a in agencies]
    totals, seen = Counter(labels), Counter()
    named = {}
    for agency, label in zip(agencies, labels, strict=True):
        seen[label] += 1
        named[agency.id] = label if totals[label] == 1 else f"{label} {seen[label]}"
    return named


def _agency_label(agency: CaseAgency) -> str:
    name = agency.name.casefold()
    for words, label in _SERVICES:
        if words in name:
            return label
    return _AGENCY_KINDS.get(agency.kind, agency.kind.replace("_", " ").capitalize())


def birth_date_forms(iso: str) -> list[str]:
    """The ways a text may write a date of birth: 2021-09-14, 14/09/2021, 14/9/2021, 14 September 2021,
    September 14, 2021."""
    day = date.fromisoformat(iso)
    month = _MONTHS[day.month - 1]
    return [iso, f"{day.day:02d}/{day.month:02d}/{day.year}", f"{day.day}/{day.month}/{day.year}",
            f"{day.day} {month} {day.year}", f"{day.day:02d} {month} {day.year}", f"{month} {day.day}, {day.year}"]  # fmt: skip


def pseudonymise(case: Case) -> Pseudonymised:
    """The review's entries with every person, agency, identifier, postcode and date of birth the
    case holds replaced or removed, and the mapping kept apart."""
    agencies = agency_pseudonyms(case.agencies)
    texts = [t for e in case.entries for t in (e.summary, e.action_taken, e.author_role) if t]
    people = people_in(texts, case.child_names, case.other_names)
    child_words = {part.casefold() for name in case.child_names for part in name_parts(name)}
    mapping: dict[str, dict] = {CHILD: {"kind": "child", "names": sorted(set(case.child_names)),
                                        "identifiers": sorted(set(case.child_identifiers))}}  # fmt: skip
    terms: list[tuple[str, str, str]] = []
    numbers: Counter[str] = Counter()
    for person in sorted(people, key=lambda p: p.relation not in ("mother", "father")):
        label = _PEOPLE[person.relation]
        numbers[label] += 1
        single = label in ("Mother", "Father")
        pseudonym = label if single and numbers[label] == 1 else f"{label} {numbers[label]}"
        mapping.setdefault(pseudonym, {"kind": "person", "names": []})["names"].append(person.name)
        terms.append((person.name, pseudonym, "person"))
        terms += [(part, pseudonym, "person") for part in name_parts(person.name) if part.casefold() not in child_words]
    for agency in case.agencies:
        mapping[agencies[agency.id]] = {"kind": "agency", "agency": agency.id, "name": agency.name}
        terms += [(agency.name, agencies[agency.id], "agency"), (agency.id, agencies[agency.id], "agency")]
    terms += [(value, IDENTIFIER_REMOVED, "identifier") for value in case.child_identifiers]
    terms += [(value, POSTCODE_REMOVED, "postcode") for value in case.postcodes]
    terms += [(form, BIRTH_DATE_REMOVED, "birth") for iso in case.dates_of_birth for form in birth_date_forms(iso)]
    for name in case.child_names:
        terms += [(name, CHILD, "child"), *((part, CHILD, "child") for part in name_parts(name))]
    replace = Replacer(terms)
    said = "|".join(re.escape(p) for p in sorted(mapping, key=len, reverse=True) if mapping[p]["kind"] == "person")

    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        text = replace(text)
        text = re.sub(r"(?<!\w)(" + said + r") \(\1\)", r"\1", text) if said else text  # "Mother (Mother)"
        text = NHS_NUMBER.sub(IDENTIFIER_REMOVED, UPN.sub(IDENTIFIER_REMOVED, text))
        return REFERENCE.sub(REFERENCE_REMOVED, POSTCODE.sub(POSTCODE_REMOVED, text))

    births = set(case.dates_of_birth)
    entries = [
        {"date": shown_date(entry.date, births), "agency": agencies[entry.agency], "category": entry.category,
         "type": entry.type, "status": entry.status, "summary": clean(entry.summary),
         "action_taken": clean(entry.action_taken), "author_role": clean(entry.author_role)}
        for entry in case.entries
    ]  # fmt: skip
    return Pseudonymised(entries, mapping)


def shown_date(occurred_at: str | None, births: set[str]) -> str | None:
    """The day of an event (its time dropped), or only its month when that day is a date of birth."""
    if occurred_at is None:
        return None
    day = occurred_at[:10]
    return day[:7] if day in births else day


def leaks(text: str, values: Iterable[str]) -> list[str]:
    """Which of ``values`` occur in ``text`` as whole words, ignoring case and spaces in identifiers:
    for tests and for a last check before a review leaves the ledger."""
    squashed = re.sub(r"\s", "", text).casefold()
    found = []
    for value in values:
        value = value.strip()
        if len(value) < 2:
            continue
        whole = re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE)
        if whole or (any(ch.isdigit() for ch in value) and re.sub(r"\s", "", value).casefold() in squashed):
            found.append(value)
    return found
