"""Rapid review in a real browser (Debian's chromium via playwright, the demo on both backends): a
practitioner finds the child by name and date of birth, is told a mistyped NHS number fails its
check digit, reads the prompts most urgent first with their dates, and judges the possible match by
its record. Screenshots go to .ci-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_web_browser import ARTIFACTS, browser, page, sign_in  # noqa: F401 - fixtures
from tests.web_demo import DemoLive, demo_live  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # a browser process per module
SCREENSHOTS = ARTIFACTS / "screenshots"
ED_NAME = "Northshire Hospitals NHS Trust, Emergency Department (fictional)"


def shot(page: Page, live: DemoLive, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{live.backend}.png"), full_page=True)


def test_a_practitioner_finds_the_child_by_name_and_date_of_birth(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    form = page.locator("form", has=page.get_by_role("group", name="Search by name and date of birth"))
    form.get_by_label("Given name").fill("Larke")
    form.get_by_label("Family name").fill("Samplewell")
    form.get_by_label("Date of birth").fill("2026-03-09")
    form.get_by_role("button", name="Search").click()

    results = page.get_by_test_id("candidates")
    expect(results.get_by_role("heading", level=2)).to_have_text("2 children match your search")
    expect(results.locator("li")).to_have_count(2)
    expect(results.locator("li").first).to_contain_text("given name, family name and date of birth match exactly")
    expect(results.locator("li").nth(1)).to_contain_text("given name similar (Jaro-Winkler")
    expect(page.get_by_label("Given name")).to_have_value("Larke")  # the form keeps what was asked
    shot(page, demo_live, "find-by-name")

    results.get_by_role("link", name="Lark Samplewell").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lark Samplewell")


def test_a_mistyped_nhs_number_is_told_it_fails_its_check_digit(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    page.get_by_label("Identifier").select_option("nhs_number")
    page.get_by_label("Number or reference").fill("9995260183")  # the demo child's, last digit mistyped
    page.get_by_role("button", name="Find").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("That NHS number fails its check digit")
    expect(page.get_by_text("No child is known")).to_have_count(0)
    shot(page, demo_live, "find-check-digit")


def test_the_prompts_come_most_urgent_first_and_the_match_can_be_judged(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    page.goto(f"{demo_live.base_url}/children/{demo_live.child_id()}")
    prompts = page.locator("ol.prompts > li.prompt")
    expect(prompts.first).to_have_attribute("data-rule", "non_mobile_infant_injury")
    rules = [prompts.nth(i).get_attribute("data-rule") for i in range(prompts.count())]
    assert len(rules) == len(set(rules)), "one prompt per rule"
    expect(prompts.first.locator(".prompt-dates")).to_contain_text("1 record, on 13 Jul 2026")
    summary = page.get_by_role("navigation", name="Risk prompts at a glance")
    expect(summary.locator("li").first).to_contain_text("Injury or bruising to a non-mobile infant")
    page.locator("#prompts").scroll_into_view_if_needed()
    shot(page, demo_live, "prompts-by-severity")

    matches = page.get_by_test_id("possible-matches")
    match = matches.locator("li", has_text="ED-TEMP-20261102-07")
    expect(match.locator("table.match-records tbody tr")).to_have_count(1)
    row = match.locator("table.match-records tbody tr")
    expect(row).to_contain_text(ED_NAME)
    expect(row).to_contain_text("physical injury")
    expect(row).to_contain_text("scald to the right hand")
    expect(row).to_contain_text("2 Nov 2026")
    reasons = match.locator(".match-reasons").inner_text()
    assert reasons.count("similar name") == 1 and reasons.count("same date of birth") == 1
    matches.scroll_into_view_if_needed()
    shot(page, demo_live, "possible-matches")

    match.get_by_role("link", name="View this record's child").click()  # a logged read of that child
    expect(page.get_by_role("heading", level=1)).to_have_text("Larke Samplewell")
    expect(page.locator('tr[data-record="ED-2026-110207"]')).to_contain_text("scald to the right hand")
