"""The child's age on each event: whole calendar months, counted as people count them."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given, strategies as st

from domain.ages import age_in_months, age_words

births = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31))
spans = st.integers(min_value=0, max_value=25 * 366)


@pytest.mark.parametrize("birth, on, words", [
    (date(2026, 3, 9), date(2026, 7, 13), "4 months old"),
    (date(2026, 3, 9), date(2026, 3, 9), "newborn"),
    (date(2026, 3, 9), date(2026, 3, 19), "1 week old"),
    (date(2026, 3, 9), date(2026, 4, 8), "4 weeks old"),
    (date(2026, 3, 9), date(2026, 4, 9), "1 month old"),
    (date(2024, 1, 9), date(2026, 4, 10), "2 years 3 months old"),
    (date(2024, 1, 9), date(2025, 1, 9), "1 year old"),
    (date(2026, 3, 9), date(2026, 1, 2), "before birth"),
    (date(2026, 1, 31), date(2026, 2, 27), "3 weeks old"),
    (date(2026, 1, 31), date(2026, 2, 28), "1 month old"),  # the month's last day is its anniversary
    (date(2026, 1, 31), date(2026, 3, 30), "1 month old"),
    (date(2026, 1, 31), date(2026, 3, 31), "2 months old"),
    (date(2024, 2, 29), date(2025, 2, 28), "1 year old"),  # a leap-day birth, in a common year
    (date(2024, 2, 29), date(2025, 2, 27), "11 months old"),
    (date(2024, 2, 29), date(2028, 2, 29), "4 years old"),
])  # fmt: skip
def test_ages_read_as_a_person_says_them(birth, on, words):
    assert age_words(birth, on) == words


@given(births, spans, spans)
def test_age_never_goes_down_as_time_goes_on(birth, a, b):
    early, late = sorted((a, b))
    assert age_in_months(birth, birth + timedelta(days=early)) <= age_in_months(birth, birth + timedelta(days=late))


@given(births, spans)
def test_the_months_part_is_under_twelve_and_the_total_is_the_calendar_months_passed(birth, days):
    on = birth + timedelta(days=days)
    months = age_in_months(birth, on)
    assert 0 <= months <= days / 28
    assert days / 31 - 1 < months
    words = age_words(birth, on)
    found = re.fullmatch(r"(?:(\d+) years?)? ?(?:(\d+) months?)? old|\d+ weeks? old|newborn", words)
    assert found, words
    years, rest = (int(g) if g else 0 for g in found.groups())
    assert rest < 12 and (words.endswith("weeks old") or words.endswith("week old") or words == "newborn"
                          or years * 12 + rest == months)  # fmt: skip


@given(births, st.integers(min_value=0, max_value=300))
def test_each_month_anniversary_adds_exactly_one_month(birth, months):
    year, month = divmod(birth.month - 1 + months, 12)
    year += birth.year
    day = birth.day
    while True:
        try:
            anniversary = date(year, month + 1, day)
            break
        except ValueError:
            day -= 1
    assert age_in_months(birth, anniversary) == months
    assert anniversary == birth or age_in_months(birth, anniversary - timedelta(days=1)) == months - 1


@given(births, st.integers(min_value=1, max_value=3650))
def test_before_birth_there_is_no_age(birth, days):
    before = birth - timedelta(days=days)
    assert age_in_months(birth, before) is None and age_words(birth, before) == "before birth"
