"""The one RFC 3339 reader: ``occurred_at``, ``as_of``, token expiry and the web view's "as known at".

RFC 3339 section 5.6 ``date-time`` is ``YYYY-MM-DDTHH:MM:SS[.frac]`` with ``Z`` or ``+hh:mm`` /
``-hh:mm``; ``full-date`` is ``YYYY-MM-DD``. Digits are ASCII only (a regular expression's ``\\d``
and ``str.isdigit`` accept other scripts' digits too), ``T`` and ``Z`` may be lower case and the
``T`` a space (section 5.6, note). Python's ``datetime.fromisoformat`` is not used: it takes much
more than RFC 3339 (week dates, basic format, offsets with seconds) and its rules change between
versions.

Every instant is returned in UTC. A time that names no UTC instant the ledger can hold (before
0001-01-01 or after 9999-12-31 once its offset is applied, e.g. ``9999-12-31T23:59:59-23:59``) is
refused like any other bad time, never an OverflowError. The error class is the caller's:
InvalidPayload (422) in a record or a token request, MalformedRequest (400) in a query or a form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from domain.errors import LedgerError, MalformedRequest

# Groups: year, month, day, hour, minute, second, fraction, offset. Seconds and offset are
# optional in the pattern; the strict form requires both.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
#: An example of each form, for messages.
EXAMPLE = "2026-03-01T09:30:00Z"


@dataclass(frozen=True, slots=True)
class Moment:
    """A parsed time: its text as given, its UTC instant, and whether only the day was given.

    For a date alone the instant is the start of that day in UTC (or of the next day, when the
    caller asked for the end of the day).
    """

    text: str
    instant: datetime
    date_only: bool


def _expected(field: str, allow_date: bool, browser: bool) -> str:
    if browser:
        return f"{field} must be a date and time, like 2026-11-03T09:00 (UTC) or {EXAMPLE}"
    dates = ", or a date YYYY-MM-DD" if allow_date else ""
    return f"{field} must be an RFC 3339 date-time with offset, e.g. {EXAMPLE}{dates}"


def _out_of_range(field: str) -> str:
    return f"{field} is outside the times the ledger can represent in UTC (years 0001-9999)"


def _offset(text: str | None) -> timezone:
    """The UTC offset written ``Z``, ``+hh:mm`` or ``-hh:mm``; ValueError beyond 23:59."""
    if text is None or text in ("Z", "z"):
        return timezone.utc
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def parse_time(
    value: object,
    field: str,
    *,
    allow_date: bool = False,
    date_end: bool = False,
    browser: bool = False,
    error: type[LedgerError] = MalformedRequest,
) -> Moment:
    """Read an RFC 3339 date-time with offset (seconds and up to 9 fraction digits, kept to the
    microsecond), or with ``allow_date`` also a date alone; raise ``error`` naming ``field``.

    ``date_end``: a date alone means the end of that day, i.e. the start of the next (an expiry).
    ``browser``: also take what a browser's date-time input sends, ``YYYY-MM-DDTHH:MM[:SS]``
    without an offset, as UTC; surrounding white space is ignored (a form field).
    """
    if not isinstance(value, str):
        raise error(_expected(field, allow_date, browser))
    text = value.strip() if browser else value
    if allow_date and len(text) == 10:
        return _parse_date(text, value, field, date_end, error)
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise error(_expected(field, allow_date, browser))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if not browser and (second is None or zone is None):
        raise error(_expected(field, allow_date, browser))
    micro = 0 if fraction is None else int(fraction[:6].ljust(6, "0"))
    try:
        written = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, _offset(zone)
        )
    except ValueError:
        raise error(f"{field} is not a real date and time") from None
    try:
        instant = written.astimezone(timezone.utc)
    except OverflowError:
        raise error(_out_of_range(field)) from None
    return Moment(value, instant, date_only=False)


def parse_date(value: object, field: str, *, error: type[LedgerError] = MalformedRequest) -> date:
    """A calendar date written ``YYYY-MM-DD`` (RFC 3339 ``full-date``), e.g. a date of birth."""
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise error(f"{field} must be a date written YYYY-MM-DD")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise error(f"{field} is not a real calendar date") from None


def _parse_date(text: str, value: str, field: str, date_end: bool, error: type[LedgerError]) -> Moment:
    if _DATE.fullmatch(text) is None:
        raise error(_expected(field, True, False))
    day = parse_date(text, field, error=error)
    try:
        start = datetime.combine(day + timedelta(days=1) if date_end else day, time(), timezone.utc)
    except OverflowError:
        raise error(_out_of_range(field)) from None
    return Moment(value, start, date_only=True)


def parse_instant(
    value: object, field: str, *, browser: bool = False, error: type[LedgerError] = MalformedRequest
) -> datetime:
    """An RFC 3339 date-time with offset as a UTC instant (``as_of``); see ``parse_time``."""
    return parse_time(value, field, browser=browser, error=error).instant


def parse_optional_instant(
    value: str | None, field: str, *, browser: bool = False, error: type[LedgerError] = MalformedRequest
) -> datetime | None:
    """``parse_instant`` for an optional query or form value: None or (in a form) blank gives None."""
    if value is None or (browser and not value.strip()):
        return None
    return parse_instant(value, field, browser=browser, error=error)
