"""Finding a child by what a person knows of them: their name and date of birth, or an identifier
typed by hand. The questions and their rules, in words a practitioner can act on; the search itself
(need to know, access entries) is ``Practitioners.search`` and ``Practitioners.find``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from domain.errors import InvalidPayload, MalformedRequest
from domain.identifiers import MAX_NAME, check_nhs_number, check_upn
from domain.text import check_query_text
from domain.times import parse_date
from projections.matching import NameCandidate

#: At most this many candidates answer a search by name: more means the search should be narrower.
MAX_CANDIDATES = 20
#: What a search by name records as its kind (the access entry's ``query["search"]``).
SEARCH_BY_NAME = "name_and_date_of_birth"


def check_digit(kind: str, value: str) -> None:
    """InvalidPayload, in words for a person, for an NHS number or UPN that cannot be one: a typing
    slip is told as such, never as "no child is known"."""
    checks = {
        "nhs_number": (check_nhs_number, "NHS number", "An NHS number is 10 digits"),
        "upn": (check_upn, "UPN", "A UPN is 13 characters: a capital letter, 11 digits, then a digit or letter"),
    }
    if kind not in checks:
        return
    check, name, form = checks[kind]
    try:
        check(value)
    except InvalidPayload as exc:
        shape_ok = "invalid" in str(exc)  # the form is right; its check character is not
        raise InvalidPayload(
            f"That {name} fails its check digit: one of its characters is probably mistyped. Check it and try again."
            if shape_ok else f"{form}; check it and try again."
        ) from None


def check_digits(nhs_number: str | None, upn: str | None) -> None:
    """MalformedRequest (400) for an NHS number or UPN that fails its check character: no record can
    name one (records are checked the same way), so it is a typing slip to tell, not a child to look
    for, and nothing is stored."""
    for kind, value in (("nhs_number", nhs_number), ("upn", upn)):
        if value is not None:
            try:
                check_digit(kind, value)
            except InvalidPayload as exc:
                raise MalformedRequest(f"{kind}: {exc}") from None


@dataclass(frozen=True, slots=True)
class NameQuery:
    """A search by name and date of birth: a given name, a family name or both, and the date of
    birth (required: a name alone would trawl every child)."""

    given_name: str | None
    family_name: str | None
    date_of_birth: date

    @classmethod
    def parse(cls, given_name: str | None, family_name: str | None, date_of_birth: str | None) -> NameQuery:
        """MalformedRequest (400), in words, for anything a search cannot be."""
        given, family = _name_part(given_name, "given_name"), _name_part(family_name, "family_name")
        if given is None and family is None:
            raise MalformedRequest("give the child's given name, family name or both, with their date of birth")
        if date_of_birth is None or not date_of_birth.strip():
            raise MalformedRequest("give the child's date of birth (YYYY-MM-DD): a name alone is not a search")
        born = parse_date(date_of_birth.strip(), "date_of_birth")
        if born > datetime.now(timezone.utc).date():
            raise MalformedRequest("date_of_birth is in the future")
        if born.year < 1900:
            raise MalformedRequest("date_of_birth is before 1900")
        return cls(given, family, born)

    def as_query(self) -> dict[str, str]:
        """The search as its access entry keeps it: its kind and its terms."""
        terms = {"given_name": self.given_name, "family_name": self.family_name,
                 "date_of_birth": self.date_of_birth.isoformat()}  # fmt: skip
        return {"search": SEARCH_BY_NAME} | {k: v for k, v in terms.items() if v is not None}


def _name_part(value: str | None, field: str) -> str | None:
    text = None if value is None else " ".join(value.split())
    return check_query_text(text, field, MAX_NAME) if text else None


@dataclass(frozen=True, slots=True)
class NameSearchAnswer:
    """What a search by name shows: the query, the candidates, and whether there were more."""

    query: NameQuery
    candidates: tuple[NameCandidate, ...]
    truncated: bool

    def to_dict(self) -> dict:
        return {
            "query": {k: v for k, v in self.query.as_query().items() if k != "search"},
            "candidates": [{"child": c.child.to_dict(), "stated_name": c.stated_name,
                            "date_of_birth": c.date_of_birth, "similarity": c.similarity,
                            "reasons": list(c.reasons)} for c in self.candidates],
            "truncated": self.truncated,
        }  # fmt: skip
