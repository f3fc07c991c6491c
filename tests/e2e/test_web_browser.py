"""The web view in a real browser: Debian's chromium driven by playwright, against the demo served by
uvicorn on 127.0.0.1, on both backends. A practitioner signs in, finds the child by the police's own
reference, sees one lane per agency with the right number of entries, looks "as known at" a moment
before the referral, records a decision, and prints the chronology. Screenshots and the PDF go to
.ci-artifacts/ for a person to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, browser, page, screenshot, sign_in  # noqa: F401 - the fixtures
from tests.web_demo import demo_live  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # a browser process per module

LANES = {
    "northshire-health-visiting": 2, "elmwood-surgery": 4, "northshire-police": 3, "northshire-ed": 3,
    "little-acorns-nursery": 4, "northshire-childrens-services": 5,
}  # fmt: skip


def lane_counts(page: Page) -> dict[str, int]:
    lanes = page.locator("svg g.lane")
    return {
        lanes.nth(i).get_attribute("data-agency"): lanes.nth(i).locator("a.mark").count() for i in range(lanes.count())
    }


def test_a_practitioner_finds_the_child_reads_the_timeline_as_of_decides_and_prints(page, demo_live):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, demo_live, demo_live.practitioner)
    page.get_by_label("Identifier").select_option("local_id")
    page.get_by_label("Number or reference").fill("NP-P-448170")
    page.get_by_label("Agency (for an agency's reference)").select_option("northshire-police")
    page.get_by_role("button", name="Find").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Lark Samplewell")
    assert lane_counts(page) == LANES
    expect(page.locator("#chronology-table tbody tr.entry")).to_have_count(sum(LANES.values()))
    infant = page.locator('[data-rule="non_mobile_infant_injury"]')
    expect(infant.get_by_role("heading", name="Injury or bruising to a non-mobile infant")).to_be_visible()
    expect(page.locator('tr[data-record="ED-2026-071344"] .status')).to_have_text("superseded")
    screenshot(page, f"web-child-{demo_live.backend}.png")

    page.get_by_label("As known at (UTC)").fill(demo_live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_text("As known at", exact=False).first).to_be_visible()
    then = lane_counts(page)
    assert "northshire-police" not in then and then["northshire-ed"] == 2  # the amendment came later
    expect(page.locator('tr[data-record="ED-2026-071344"] .status')).to_have_text("current")
    expect(page.locator('tr[data-record="LAN-0123"] .status')).to_have_text("current")

    page.get_by_role("link", name="Show as known now").click()
    assert lane_counts(page) == LANES
    infant = page.locator('[data-rule="non_mobile_infant_injury"]')
    infant.get_by_text("Record a decision on this prompt").click()
    infant.get_by_label("Escalated: needs a strategy discussion or more").check()
    infant.get_by_label("Reason").fill("Bruising at 4 months with differing accounts: strategy discussion (fictional).")
    infant.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").filter(has_text="recorded in the ledger")).to_be_visible()
    expect(page.locator('[data-rule="non_mobile_infant_injury"]')).to_have_attribute("data-state", "escalated")

    page.get_by_role("link", name="Printable chronology").click()
    statement = page.get_by_test_id("checkpoint-statement")
    expect(statement).to_contain_text("signed checkpoint of tree size")
    size = int(statement.locator("strong").first.inner_text())
    leaves = [int(text) for text in page.locator("#chronology-table tbody td.num").all_inner_texts()]
    assert len(leaves) == sum(LANES.values()) and max(leaves) < size
    page.emulate_media(media="print")
    expect(page.locator("header.site")).to_be_hidden()
    expect(page.locator("form:visible")).to_have_count(0)
    screenshot(page, f"web-print-{demo_live.backend}.png")
    pdf = ARTIFACTS / f"chronology-{demo_live.backend}.pdf"
    page.pdf(path=str(pdf), format="A4", landscape=True, print_background=True)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_an_inquiry_sees_the_log_verified_and_the_childs_access_history(page, demo_live):
    sign_in(page, demo_live, demo_live.inquiry)
    page.get_by_label("Number or reference").fill(demo_live.demo.child_nhs_number)
    page.get_by_role("button", name="Find").click()
    history = page.get_by_test_id("access-history")
    expect(history).to_be_visible()
    expect(history.locator("tbody tr").first).to_be_visible()
    page.get_by_role("link", name="The log", exact=True).click()
    expect(page.get_by_test_id("log-verified")).to_contain_text("verified")
    expect(page.get_by_test_id("log-size")).not_to_have_text("0")


def test_the_pages_are_usable_by_keyboard_and_every_control_has_a_label(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.get_by_label("Number or reference").fill(demo_live.demo.child_nhs_number)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lark Samplewell")
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(el => el.labels.length === 0).map(el => el.name)"""
    )
    assert unlabelled == []
    outline = page.evaluate(
        """(() => { const a = document.querySelector('svg a.mark'); a.focus();
                    return document.activeElement === a; })()"""
    )
    assert outline, "timeline marks are links a keyboard can reach"
