"""Finding other people in a child's records, and taking them out of what the child is given.

A record names one person by field: its subject, the child. Everyone else (a mother, her partner, a
sibling, a neighbour) lives only in free text, so they are found two ways: by the relationship the
text states ("Mother (Jade Example)", "her new partner, Dale Example", "adult male Dale Example"),
and by the names the ledger already knows of other subjects and of agency staff, which the caller
looks up. Once found, a name is taken out everywhere in the document, as a whole and by its parts
(except parts the child shares, such as a family name: those are the child's own data).
Identifiers (NHS numbers, UPNs, postcodes, agency references) are found by their form.

A subject access export (UK GDPR Article 15) gives the child their own data and withholds other
people's (DPA 2018 Schedule 2 paragraph 16): ``SubjectAccessRedactor`` replaces each with
``[redacted: third party]`` and counts what it withheld and why. domain/pseudonyms.py uses the same
finding for an anonymised review. Pure: no I/O, deterministic.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

REDACTED = "[redacted: third party]"
THIRD_PARTY_BASIS = "UK GDPR Article 15(4); DPA 2018 Schedule 2 paragraph 16 (third-party data)"

#: relationship words a record uses -> the kind of relationship (most specific wins for one person).
RELATIONS = {
    "mother": "mother", "mum": "mother", "father": "father", "dad": "father",
    "brother": "sibling", "sister": "sibling", "sibling": "sibling", "half-brother": "sibling",
    "half-sister": "sibling", "stepbrother": "sibling", "stepsister": "sibling",
    "partner": "adult", "boyfriend": "adult", "girlfriend": "adult", "stepfather": "adult",
    "stepmother": "adult", "adult male": "adult", "adult female": "adult", "grandmother": "adult",
    "grandfather": "adult", "aunt": "adult", "uncle": "adult", "carer": "adult",
    "neighbour": "person", "friend": "person", "visitor": "person",
}  # fmt: skip
_RANK = {"mother": 0, "father": 0, "sibling": 1, "adult": 2, "person": 3}
_NAME_WORD = r"[A-Z][a-z]+(?:['-][A-Za-z][a-z]+)*"
_CUE = re.compile(
    r"(?<![\w-])(?i:" + "|".join(sorted(map(re.escape, RELATIONS), key=len, reverse=True)) + r")"
    r"\s*[(,:]?\s*(?P<name>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r"){0,2})"
)
#: capitalised words that begin sentences or name roles, never a person's name after a cue.
_NOT_NAMES = frozenset("The A An He She They His Her Their It Baby Child Infant Mother Father Police Said Says "
                       "Was Is Has Had And Or But Not No Yes Also Then".split())  # fmt: skip

NHS_NUMBER = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
UPN = re.compile(r"\b[A-Z]\d{11}[0-9A-Z]\b")
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
#: an agency's reference: upper-case letters and digits joined by hyphens, at least one digit.
REFERENCE = re.compile(r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)+\b")


@dataclass(frozen=True, slots=True)
class Person:
    """Someone other than the child a record's text names, and how the records say they are related."""

    name: str
    relation: str  # one of _RANK's keys


def name_parts(name: str) -> list[str]:
    """The words of a name, as a text would use them alone."""
    return [part for part in re.split(r"\s+", name.strip()) if len(part) > 1]


def people_in(texts: Iterable[str], child_names: Iterable[str], known: Iterable[str] = ()) -> list[Person]:
    """The people other than the child the texts name, in order of first mention: names after a
    relationship word, then ``known`` names (of other subjects, of staff) found in the texts as a
    whole. A name made only of the child's own name words is the child's."""
    child_words = {part.casefold() for name in child_names for part in name_parts(name)}
    found: dict[str, str] = {}
    texts = list(texts)
    for text in texts:
        for match in _CUE.finditer(text):
            words = match.group("name").split()
            while words and words[-1] in _NOT_NAMES:
                words.pop()
            while words and words[0] in _NOT_NAMES:
                words.pop(0)
            if not words or all(word.casefold() in child_words for word in words):
                continue
            name = " ".join(words)
            relation = RELATIONS[_cue_word(match.group(0), match.group("name"))]
            if name not in found or _RANK[relation] < _RANK[found[name]]:
                found[name] = relation
    for name in known:
        if name and name not in found and any(_mentions(text, name) for text in texts):
            if not all(part.casefold() in child_words for part in name_parts(name)):
                found[name] = "person"
    return [Person(name, relation) for name, relation in found.items()]


def _cue_word(matched: str, name: str) -> str:
    cue = matched[: matched.rindex(name)].strip(" \t\n(,:")
    return re.sub(r"\s+", " ", cue).casefold()


def _mentions(text: str, term: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE) is not None


class Replacer:
    """Replaces whole-word terms, longest first and ignoring case, counting each replacement by the
    term's label; a term given twice keeps its first replacement."""

    def __init__(self, terms: Iterable[tuple[str, str, str]]):
        self.terms: dict[str, tuple[str, str]] = {}
        for term, replacement, label in terms:
            key = term.strip().casefold()
            if len(key) > 1 and key not in self.terms:
                self.terms[key] = (replacement, label)
        ordered = sorted(self.terms, key=len, reverse=True)
        self.pattern = None if not ordered else re.compile(
            r"(?<!\w)(?:" + "|".join(re.escape(term) for term in ordered) + r")(?!\w)", re.IGNORECASE
        )  # fmt: skip
        self.counts: Counter[str] = Counter()

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text

        def swap(match: re.Match) -> str:
            replacement, label = self.terms[match.group(0).casefold()]
            self.counts[label] += 1
            return replacement

        return self.pattern.sub(swap, text)


@dataclass(frozen=True, slots=True)
class Withheld:
    """What a subject access export left out, how often, and on what basis."""

    what: str
    count: int
    basis: str

    def as_json(self) -> dict:
        return {"what": self.what, "count": self.count, "basis": self.basis}

    def sentence(self) -> str:
        return f"{self.count} {self.what} ({self.basis})"


@dataclass
class SubjectAccessRedactor:
    """Redacts a child's records for the child: other people's names (found by ``people_in``, plus
    ``other_names`` known from the ledger, plus ``staff_names``), ``other_identifiers``, and NHS
    numbers, UPNs and postcodes that are not the child's own (``child_identifiers``)."""

    child_names: frozenset[str]
    child_identifiers: frozenset[str]
    other_names: frozenset[str] = frozenset()
    staff_names: frozenset[str] = frozenset()
    texts: list[str] = field(default_factory=list)
    other_identifiers: frozenset[str] = frozenset()  # e.g. other subjects' agency references

    def __post_init__(self) -> None:
        child_words = {part.casefold() for name in self.child_names for part in name_parts(name)}
        people = people_in(self.texts, self.child_names, sorted(self.other_names))
        terms = [(value, REDACTED, "identifier") for value in sorted(self.other_identifiers)]
        terms += [(name, REDACTED, "staff") for name in sorted(self.staff_names)]
        for person in people:
            terms.append((person.name, REDACTED, "name"))
            terms += [(part, REDACTED, "name") for part in name_parts(person.name) if part.casefold() not in child_words]
        self.people = people
        self.names = Replacer(terms)
        self.own = {_squash(value) for value in self.child_identifiers}
        self.identifiers = 0

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        text = self.names(text)
        for form in (NHS_NUMBER, UPN, POSTCODE):
            text = form.sub(self._identifier, text)
        return text

    def _identifier(self, match: re.Match) -> str:
        if _squash(match.group(0)) in self.own:
            return match.group(0)
        self.identifiers += 1
        return REDACTED

    def withheld(self) -> list[Withheld]:
        """What was left out, each kind once, with its count (nothing withheld: an empty list)."""
        kinds = [
            ("names of third parties redacted", self.names.counts["name"]),
            ("names of agency staff redacted", self.names.counts["staff"]),
            ("identifiers of third parties redacted (NHS numbers, UPNs, postcodes, references)",
             self.identifiers + self.names.counts["identifier"]),
        ]
        return [Withheld(what, count, THIRD_PARTY_BASIS) for what, count in kinds if count]


def _squash(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()
