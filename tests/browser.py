"""Debian's chromium driven by playwright, for the web view's browser tests: one browser per module,
a fresh context per test (``bypass_csp`` lets axe-core be injected past the page's own policy, which
allows no script), and signing in through the form as a person would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.web_demo import DemoLive

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / ".ci-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB", timezone_id="UTC",
                                  bypass_csp=True)  # fmt: skip
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, live: DemoLive, token: str) -> None:
    page.goto(live.base_url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Find a child")).to_be_visible()


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """A screenshot (of the whole page) in .ci-artifacts/screenshots/, which CI keeps for a person to see."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path
