"""The child page's header in a real browser (Debian chromium via playwright), on both backends: as
known at a moment before the referral it holds only what was known then (no police reference, no
misspelt surname, no child protection plan), on screen and on the print-out; now it shows the
statutory status from social care's records, and an approximate date reads "about". Screenshots go
to .ci-artifacts/ (issue 13, items 5 and 6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.demo import POLICE_REF
from api.keyfiles import read_private_key
from domain import envelope as dsse
from projections.identity import resolve_child
from tests.web_demo import DemoLive, demo_live  # noqa: F401 - the fixture

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / ".ci-artifacts"
SOCIAL_CARE = "northshire-childrens-services"
PLAN = "On a child protection plan since 16 Nov 2026 (Northshire Children's Social Care (fictional))"
pytestmark = pytest.mark.slow  # a browser process per module


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, demo_live) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB", timezone_id="UTC")
    try:
        signed = context.new_page()
        signed.goto(demo_live.base_url + "/sign-in")
        signed.get_by_label("Access token").fill(demo_live.practitioner)
        signed.get_by_role("button", name="Sign in").click()
        signed.wait_for_url(lambda url: "/sign-in" not in url)
        yield signed
    finally:
        context.close()


def as_of_input(live: DemoLive) -> str:
    return live.demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S")


def names_recorded(page: Page) -> list[str]:
    facts = page.get_by_test_id("child-facts")
    return facts.locator("dt:text-is('Names recorded') + dd").inner_text().split("; ")


def test_now_the_header_names_every_identifier_and_the_child_protection_plan(page, demo_live):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{demo_live.base_url}/children/{demo_live.child_id()}")
    facts = page.get_by_test_id("child-facts")
    expect(facts).to_contain_text(POLICE_REF)
    assert {"Lark Samplewell", "Lark Samplewel"} <= set(names_recorded(page))
    expect(page.get_by_test_id("statutory-status")).to_have_text(PLAN)
    facts.screenshot(path=str(ARTIFACTS / f"web-header-now-{demo_live.backend}.png"))


@pytest.mark.parametrize("view", ["", "/print"], ids=["screen", "paper"])
def test_as_known_before_the_referral_the_header_holds_only_what_was_known_then(page, demo_live, view):
    page.goto(f"{demo_live.base_url}/children/{demo_live.child_id()}{view}?as_of={as_of_input(demo_live)}")
    if view:
        page.emulate_media(media="print")
    facts = page.get_by_test_id("child-facts")
    expect(facts).to_be_visible()
    expect(facts).not_to_contain_text(POLICE_REF)
    expect(facts).not_to_contain_text("Northshire Police")
    assert names_recorded(page) == ["Lark Samplewell"]  # the police's misspelt surname came with the link
    expect(facts.locator("dt:text-is('Councils') + dd")).to_have_text("990")
    expect(page.get_by_test_id("statutory-status")).to_have_count(0)  # no plan had started then
    facts.screenshot(path=str(ARTIFACTS / f"web-header-then{view.replace('/', '-')}-{demo_live.backend}.png"))


def test_an_approximate_date_reads_about_in_the_header_and_the_table(page, demo_live):
    """Robin, another demo child, became looked after on a date social care knows only roughly."""
    key = read_private_key(demo_live.demo.directory / "keys" / f"{SOCIAL_CARE}.key")
    payload = {"agency": SOCIAL_CARE, "record_id": "CSC-26-4001", "type": "concern", "local_authority": "990",
               "subject": {"nhs_number": "9991590838"}, "occurred_at": "2026-09-01", "occurred_at_approximate": True,
               "category": "looked_after_start", "summary": "Robin accommodated (fictional)."}  # fmt: skip
    (receipt,) = demo_live.services.submit([dsse.sign(json.dumps(payload).encode(), key)], acting_agency=SOCIAL_CARE)
    assert "leaf_index" in receipt, receipt
    demo_live.services.writes.exclusive(demo_live.services.runner.catch_up)
    with demo_live.services.engine.connect() as conn:
        robin = resolve_child(conn, nhs_number="9991590838").id
    page.goto(f"{demo_live.base_url}/children/{robin}")
    expect(page.get_by_test_id("statutory-status")).to_have_text(
        "Looked after since about 1 Sep 2026 (Northshire Children's Social Care (fictional))")
    expect(page.locator('tr[data-record="CSC-26-4001"] td').first).to_have_text("about 1 Sep 2026")
