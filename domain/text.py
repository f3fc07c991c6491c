"""Text hygiene (SPEC 6.6): the one rule for every text value of every entry the ledger appends.

A log entry is canonical UTF-8 JSON that people read in chronologies and auditors hash for years,
so a text value may not hold what has no business in a record: a NUL, a lone surrogate (U+D800 to
U+DFFF: a Python string can hold one, UTF-8 cannot, so it could never be stored or hashed), another
control character (Unicode category Cc), or a non-character (U+FDD0 to U+FDEF and the last two code
points of every plane). Free text (a summary, a reason) may still break lines: tab, line feed and
carriage return are allowed there. A single-line value (a name, an identifier, a reference) must be
printable (``str.isprintable``): no control character at all, no line or paragraph separator, no
invisible format character.

Each check names the field and says what kind of character is wrong and where, and never repeats
the value. The error class is the caller's: InvalidPayload (422) for record payload and entry
fields, MalformedRequest (400) for query parameters and form fields.
"""

from __future__ import annotations

import re
import unicodedata

from domain.errors import InvalidPayload, LedgerError, MalformedRequest

#: The line-breaking controls free text may hold.
FREE_TEXT_CONTROLS = "\t\n\r"

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)
)
# Everything free text refuses: Cc but tab, LF and CR; surrogates; non-characters.
_FREE_TEXT_FAULT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")
_NONCHARACTER = re.compile(f"[{_NONCHARACTERS}]")

ErrorClass = type[LedgerError]


def _kind(char: str) -> str:
    """What is wrong with one refused character, in words (the character itself is not shown)."""
    if char == "\x00":
        return "a NUL character"
    if "\ud800" <= char <= "\udfff":
        return "a lone surrogate (U+D800-U+DFFF)"
    if char in FREE_TEXT_CONTROLS:
        return "a tab or line break"
    if unicodedata.category(char) == "Cc":
        return f"a control character (U+{ord(char):04X})"
    if _NONCHARACTER.fullmatch(char):
        return f"a Unicode non-character (U+{ord(char):04X})"
    return f"a character that is not printable (U+{ord(char):04X}, category {unicodedata.category(char)})"


def text_fault(value: str, single_line: bool = False) -> str | None:
    """Why ``value`` may not be stored, e.g. "a NUL character at position 3", or None when it may.

    Positions count characters from 1. ``single_line`` applies the rule for names and identifiers.
    """
    if single_line:
        if value.isprintable():
            return None
        index = next(i for i, char in enumerate(value) if not char.isprintable())
    else:
        found = _FREE_TEXT_FAULT.search(value)
        if found is None:
            return None
        index = found.start()
    return f"{_kind(value[index])} at position {index + 1}"


def check_text(
    value: object,
    field: str,
    max_length: int,
    min_length: int = 1,
    *,
    single_line: bool = False,
    error: ErrorClass = InvalidPayload,
) -> str:
    """Return ``value`` if it is a string of ``min_length``-``max_length`` characters that passes
    text hygiene: free text (line breaks allowed) unless ``single_line``. Raises ``error``."""
    if not isinstance(value, str):
        raise error(f"{field} must be a string")
    if not min_length <= len(value) <= max_length:
        raise error(f"{field} must be {min_length}-{max_length} characters")
    fault = text_fault(value, single_line)
    if fault is not None:
        rule = "be printable characters only" if single_line else "hold no control character but tab and line breaks"
        raise error(f"{field} must {rule}: it holds {fault}")
    return value


def check_printable(value: object, field: str, max_length: int, *, error: ErrorClass = InvalidPayload) -> str:
    """A single-line value a person reads (names, postcodes, roles): printable characters only."""
    return check_text(value, field, max_length, single_line=True, error=error)


def check_reference(value: object, field: str, *, error: ErrorClass = InvalidPayload) -> str:
    """An agency's reference: 1-128 printable characters (record ids, local ids, rule names)."""
    return check_printable(value, field, 128, error=error)


def check_query_text(value: object, field: str, max_length: int, *, single_line: bool = True) -> str:
    """A query parameter or form field: the same hygiene, refused as MalformedRequest (400)."""
    return check_text(value, field, max_length, single_line=single_line, error=MalformedRequest)


def shown_name(name: object, max_length: int = 40) -> str:
    """A caller-supplied name or id as an error message may repeat it: only a short printable one.

    Unknown fields are named back to the integrator who sent them, but a name can hold anything,
    and a message must never carry a control character or a lone surrogate.
    """
    if isinstance(name, str) and 0 < len(name) <= max_length and name.isprintable():
        return name
    return "(one not shown: too long or not printable)"
