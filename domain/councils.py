"""Council codes: the three-digit local authority codes that scope records and practitioners.

One rule for every place a code arrives (a record's ``local_authority``, a practitioner token, an
agency's councils): exactly three ASCII digits. ``str.isdigit`` and a regular expression's ``\\d``
(without ``re.ASCII``) also accept other scripts' digits, so ``"٣٠٩"`` (Arabic-Indic) would pass
them and then never equal the ``"309"`` it looks like.
"""

from __future__ import annotations

import re

from domain.errors import InvalidPayload, LedgerError

#: The rule as an anchored pattern, for request schemas (pydantic's ``pattern``: ``[0-9]`` is ASCII).
COUNCIL_CODE_PATTERN = r"^[0-9]{3}$"
_COUNCIL_CODE = re.compile(r"[0-9]{3}")


def is_council_code(value: object) -> bool:
    """Whether ``value`` is a council code: a string of exactly three ASCII digits."""
    return isinstance(value, str) and _COUNCIL_CODE.fullmatch(value) is not None


def check_council_code(
    value: object, field: str = "local_authority", *, error: type[LedgerError] = InvalidPayload
) -> str:
    """Return ``value`` if it is a council code; otherwise raise ``error`` naming ``field``."""
    if not is_council_code(value):
        raise error(f"{field} must be a string of three digits (0-9), a council code")
    return value
