"""A child's age on a day, as a chronology states it: "4 months old", "2 years 3 months old".

A reviewer reads an injury at four months (not yet mobile) very differently from one at two years,
so each event shows the child's age then. Ages count whole calendar months from the date of birth;
a month's anniversary of a day the month lacks (the 31st, or 29 February) is that month's last day,
so a child born on 31 January is one month old on 28 February and a leap-day child is one year old
on 28 February of the next year.
"""

from __future__ import annotations

import calendar
from datetime import date


def _anniversary(birth: date, months: int) -> date:
    """The day ``months`` whole months after ``birth`` (clamped to the end of a shorter month)."""
    year, month = divmod(birth.month - 1 + months, 12)
    year += birth.year
    return date(year, month + 1, min(birth.day, calendar.monthrange(year, month + 1)[1]))


def age_in_months(birth: date, on: date) -> int | None:
    """Whole calendar months from ``birth`` to ``on``; None before birth (a pre-birth concern)."""
    if on < birth:
        return None
    months = (on.year - birth.year) * 12 + on.month - birth.month
    return months if _anniversary(birth, months) <= on else months - 1


def age_words(birth: date, on: date) -> str:
    """The age as a person says it: "3 weeks old", "4 months old", "1 year old", "2 years 3 months old"."""
    months = age_in_months(birth, on)
    if months is None:
        return "before birth"
    if months == 0:
        weeks = (on - birth).days // 7
        return "newborn" if weeks == 0 else f"{weeks} {'week' if weeks == 1 else 'weeks'} old"
    years, rest = divmod(months, 12)
    parts = [f"{years} {'year' if years == 1 else 'years'}"] if years else []
    if rest:
        parts.append(f"{rest} {'month' if rest == 1 else 'months'}")
    return " ".join(parts) + " old"
