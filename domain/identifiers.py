"""Child identifiers: NHS number, UPN, an agency's own local reference, and demographics.

Strong identifiers (NHS number, UPN) are checked with python-stdnum rather than by hand, and in their
exact written form (no spaces, upper case): a valid check digit is necessary, not sufficient, for a
match, and normalising silently would hide a typing error that a person should see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum.gb import nhs, upn

from domain.agencies import check_agency_id
from domain.errors import InvalidPayload

# check_text, check_printable and check_reference live in domain/text (the one text rule); they are
# imported here too because callers have long found them in this module.
from domain.text import check_printable, check_reference, check_text, shown_name  # noqa: F401
from domain.times import parse_date

# ASCII digits only: ``\d`` would also match other scripts' digits.
_NHS_FORM = re.compile(r"[0-9]{10}")
_UPN_FORM = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")
_STRONG = ("nhs_number", "upn", "local_id")
_OPTIONAL = ("given_name", "family_name", "date_of_birth", "postcode", "aliases")
_ALLOWED = frozenset(_STRONG + _OPTIONAL)
_ALLOWED_WITH_AGENCY = _ALLOWED | {"agency"}
MAX_NAME = 200
MAX_POSTCODE = 10
MAX_ALIASES = 20


def check_nhs_number(value: object, field: str = "nhs_number") -> str:
    """Return ``value`` if it is a 10-digit NHS number with a valid Modulus 11 check digit."""
    if not isinstance(value, str) or not _NHS_FORM.fullmatch(value):
        raise InvalidPayload(f"{field} must be exactly 10 digits")
    if not nhs.is_valid(value):
        raise InvalidPayload(f"{field} has an invalid Modulus 11 check digit")
    return value


def check_upn(value: object, field: str = "upn") -> str:
    """Return ``value`` if it is a 13-character Unique Pupil Number with a valid check letter."""
    if not isinstance(value, str) or not _UPN_FORM.fullmatch(value):
        raise InvalidPayload(f"{field} must be 13 characters: a check letter, 11 digits, a digit or letter")
    if not upn.is_valid(value):
        raise InvalidPayload(f"{field} has an invalid check letter")
    return value


def refuse_nulls(data: dict, field: str | None = None) -> None:
    """Refuse ``null`` values: a field is given with a value or left out, never both at once."""
    for key, value in data.items():
        if value is None:
            name = key if field is None else f"{field}.{key}"
            raise InvalidPayload(f"{name} must not be null; leave it out instead")


def check_date(value: object, field: str) -> date:
    """A calendar date written YYYY-MM-DD (domain/times reads every date and time)."""
    return parse_date(value, field, error=InvalidPayload)


@dataclass(frozen=True, slots=True)
class ChildIdentifiers:
    """What one record says identifies a child; ``agency`` scopes ``local_id`` to its agency."""

    nhs_number: str | None = None
    upn: str | None = None
    local_id: str | None = None
    agency: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    postcode: str | None = None
    aliases: tuple[str, ...] = ()

    def strong_keys(self) -> list[str]:
        """Identity keys that join records to one child automatically: ``nhs:...``, ``upn:...``,
        ``local:<agency>:...``."""
        keys = []
        if self.nhs_number:
            keys.append(f"nhs:{self.nhs_number}")
        if self.upn:
            keys.append(f"upn:{self.upn}")
        if self.local_id:
            keys.append(f"local:{self.agency}:{self.local_id}")
        return keys


def parse_identifiers(data: object, field: str, agency: str, allow_agency: bool = False) -> ChildIdentifiers:
    """Validate an identifier object (SPEC section 2) and scope its local id to ``agency``.

    ``allow_agency`` permits the ``agency`` field, which only ``same_child`` entries may carry.
    """
    if not isinstance(data, dict):
        raise InvalidPayload(f"{field} must be an object")
    allowed = _ALLOWED_WITH_AGENCY if allow_agency else _ALLOWED
    if not data.keys() <= allowed:
        unknown = sorted(shown_name(key) for key in data.keys() - allowed)
        raise InvalidPayload(f"{field} has unknown fields: {', '.join(unknown)}")
    refuse_nulls(data, field)
    if not any(key in data for key in _STRONG):
        raise InvalidPayload(f"{field} needs at least one of nhs_number, upn, local_id")
    scope = agency
    if "agency" in data:
        scope = check_agency_id(data["agency"], f"{field}.agency")
    aliases = data.get("aliases", ())
    if not isinstance(aliases, (list, tuple)) or len(aliases) > MAX_ALIASES:
        raise InvalidPayload(f"{field}.aliases must be a list of at most {MAX_ALIASES} names")

    def optional_text(key: str, max_length: int = MAX_NAME) -> str | None:
        return None if key not in data else check_printable(data[key], f"{field}.{key}", max_length)

    return ChildIdentifiers(
        nhs_number=None if "nhs_number" not in data else check_nhs_number(data["nhs_number"], f"{field}.nhs_number"),
        upn=None if "upn" not in data else check_upn(data["upn"], f"{field}.upn"),
        local_id=None if "local_id" not in data else check_reference(data["local_id"], f"{field}.local_id"),
        agency=scope,
        given_name=optional_text("given_name"),
        family_name=optional_text("family_name"),
        date_of_birth=(
            None if "date_of_birth" not in data else check_date(data["date_of_birth"], f"{field}.date_of_birth")
        ),
        postcode=optional_text("postcode", MAX_POSTCODE),
        aliases=tuple(check_printable(a, f"{field}.aliases[]", MAX_NAME) for a in aliases),
    )
