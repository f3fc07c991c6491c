"""The practitioner's view for rapid review, drawn by Debian's chromium (playwright) on both backends:
significant events distinct on the timeline with the child's age, a visible key, whole agency names,
same-day marks that never overlap, marks a keyboard reaches; the print marked OFFICIAL-SENSITIVE and
paged "page N of M" on every page of its PDF; and axe-core finding no serious or critical violation on
the sign-in, home, child and print pages. Screenshots go to .ci-artifacts/screenshots/; with
REFRESH_DOCS_SCREENSHOT=1 the child page's also replaces docs/demo-web-view.png (the README's)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser import SCREENSHOTS, browser, page, screenshot, sign_in  # noqa: F401 - the fixtures
from tests.web_demo import DemoLive, demo_live  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # a browser process per module
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "demo-web-view.png"
BLOCKING = {"serious", "critical"}


def open_child(page: Page, live: DemoLive, query: str = "") -> None:
    page.goto(f"{live.base_url}/children/{live.child_id()}{query}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lark Samplewell")


def mark_of(page: Page, record: str):
    leaf = page.locator(f'tr[data-record="{record}"]').get_attribute("id").removeprefix("entry-")
    return page.locator(f'svg a.mark[data-leaf="{leaf}"]')


def boxes(page: Page, selector: str) -> list[dict]:
    return page.evaluate(f"""[...document.querySelectorAll({selector!r})].map(el => {{
        const r = el.getBoundingClientRect(); return {{x: r.x, y: r.y, w: r.width, h: r.height}}; }})""")


def overlapping(a: dict, b: dict) -> bool:
    side_by_side = a["x"] >= b["x"] + b["w"] or b["x"] >= a["x"] + a["w"]
    return not side_by_side and not (a["y"] >= b["y"] + b["h"] or b["y"] >= a["y"] + a["h"])


def test_the_bruised_baby_the_domestic_abuse_and_the_new_adult_stand_out_with_the_childs_age(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    open_child(page, demo_live)
    key = page.locator("#timeline-key")
    expect(key.get_by_role("heading", name="Key to the timeline")).to_be_visible()
    for words in ("physical injury", "domestic abuse", "household change", "routine contact"):
        expect(key.locator("li", has_text=words)).to_be_visible()
    expect(key.locator('li[data-category="physical_injury"]')).to_contain_text("significant")
    expect(key.locator('li[data-category="routine_contact"]')).not_to_contain_text("significant")

    bruise, arrest, new_adult = (mark_of(page, r) for r in ("ED-2026-071344-A1", "NP-INC-26-17402", "HV-2026-0744"))
    routine = mark_of(page, "HV-2026-0311")
    said = bruise.get_attribute("aria-label")
    assert "4 months old" in said and "physical injury (significant)" in said, said
    assert routine.get_attribute("data-significant") == "false" and "1 week old" in routine.get_attribute("aria-label")
    routine_width = routine.locator("path.shape").bounding_box()["width"]
    for significant in (bruise, arrest, new_adult):
        assert significant.get_attribute("data-significant") == "true"
        assert significant.locator("path.shape").bounding_box()["width"] > routine_width * 1.2
    drawn = [(m.locator("path.shape").get_attribute("fill"), m.get_attribute("data-shape"))
             for m in (bruise, arrest, new_adult, routine)]  # fmt: skip
    assert len({fill for fill, _ in drawn}) == 4 and len({shape for _, shape in drawn}) == 4, drawn
    expect(page.locator('tr[data-record="ED-2026-071344"] td.age')).to_have_text("4 months old")
    expect(page.locator('tr[data-record="ED-2026-071344-A1"] td.what')).to_contain_text("significant")

    marks = boxes(page, "svg a.mark path.shape")
    assert len(marks) >= 19
    hidden = [(a, b) for i, a in enumerate(marks) for b in marks[i + 1:] if overlapping(a, b)]
    assert not hidden, "no mark hides another"
    svg = page.get_by_test_id("timeline").bounding_box()
    label_column = svg["x"] + svg["width"] * 270 / 1000
    names = []
    for label in page.locator("svg g.lane text.lane-label").all():
        box = label.bounding_box()
        assert box["x"] + box["width"] <= label_column, "a lane's name stays in its column, wrapped"
        names.append(" ".join(label.locator("tspan").all_text_contents()))
    assert "Northshire Hospitals NHS Trust, Emergency Department (fictional)" in names, names
    assert "Northshire Children's Social Care (fictional)" in names, names
    path = screenshot(page, f"child-{demo_live.backend}.png")
    page.locator("#timeline").screenshot(path=str(SCREENSHOTS / f"timeline-{demo_live.backend}.png"))
    assert path.stat().st_size > 10_000
    if os.environ.get("REFRESH_DOCS_SCREENSHOT") == "1" and demo_live.backend == "sqlite":
        page.set_viewport_size({"width": 1366, "height": 1500})  # the header, the prompts and the timeline
        page.evaluate("window.scrollTo(0, 0)")
        shutil.copyfile(screenshot(page, "demo-web-view.png", full_page=False), DOCS_SCREENSHOT)


def test_the_timeline_is_reached_by_keyboard_and_holds_no_link_inside_an_image(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    open_child(page, demo_live)
    assert page.evaluate("document.querySelectorAll('[role=img] a, [role=img] [tabindex]').length") == 0
    assert page.get_by_test_id("timeline").get_attribute("role") == "group"
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('svg a.mark')"):
            break
    else:
        pytest.fail("no timeline mark was reached by Tab")
    said = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert "old" in said and ("current" in said or "superseded" in said or "retracted" in said)
    leaf = page.evaluate("document.activeElement.dataset.leaf")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == f"#entry-{leaf}"


def test_newest_first_since_last_looked_and_the_date_range_shortcuts(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    open_child(page, demo_live)
    open_child(page, demo_live)  # a second look: the first is now "last looked"
    expect(page.get_by_test_id("since-last-look")).to_contain_text("new since you last looked on")
    page.get_by_role("link", name="newest first").click()
    expect(page.locator("#chronology-table caption")).to_contain_text("newest first")
    dated = page.evaluate("""[...document.querySelectorAll('#chronology-table tbody tr.entry')]
        .filter(row => row.cells[0].textContent.trim() !== '–').map(row => row.dataset.record)""")
    assert dated[0] == "CSC-26-3503" and dated[-1] == "HV-2026-0311", "the latest event (the plan's start) first"
    all_rows = page.locator("#chronology-table tbody tr.entry").count()
    page.get_by_role("navigation", name="Date range shown").get_by_role("link", name="last 3 months").click()
    assert "from=" in page.url and "order=newest" in page.url
    expect(page.get_by_role("link", name="last 3 months")).to_have_attribute("aria-current", "true")
    assert 0 < page.locator("#chronology-table tbody tr.entry").count() < all_rows
    assert page.locator("svg a.mark").count() == page.locator("#chronology-table tbody tr.entry").count()
    screenshot(page, f"child-last-3-months-{demo_live.backend}.png")
    page.get_by_role("link", name="all dates").click()
    expect(page.locator("#chronology-table tbody tr.entry")).to_have_count(all_rows)


def test_the_printed_chronology_is_marked_and_paged_on_every_page(page, demo_live):
    sign_in(page, demo_live, demo_live.practitioner)
    page.goto(f"{demo_live.base_url}/children/{demo_live.child_id()}/print")
    expect(page.get_by_test_id("marking-top")).to_have_text("OFFICIAL-SENSITIVE")
    expect(page.get_by_test_id("marking-bottom")).to_contain_text("OFFICIAL-SENSITIVE")
    expect(page.get_by_test_id("printed-by")).to_contain_text("Sam Example")
    expect(page.locator(".prompt-line").first).to_contain_text("(fictional)")
    page.emulate_media(media="print")
    screenshot(page, f"print-{demo_live.backend}.png")
    pdf = SCREENSHOTS / f"chronology-{demo_live.backend}.pdf"
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    pages = [p.extract_text() for p in PdfReader(pdf).pages]
    assert len(pages) >= 2, "the demo chronology runs to several pages"
    for number, text in enumerate(pages, 1):
        flat = " ".join(text.split())
        assert flat.count("OFFICIAL-SENSITIVE") >= 2, f"page {number} is marked at top and bottom"
        assert f"page {number} of {len(pages)}" in flat, f"page {number}: {flat[-200:]}"
    whole = " ".join(" ".join(pages).split())
    assert "Sam Example" in whole and "signed checkpoint of tree size" in whole and "4 months old" in whole


PAGES = {"sign-in": "/sign-in", "home": "/", "child": "/children/{child}", "print": "/children/{child}/print"}


@pytest.mark.parametrize("where", list(PAGES))
def test_axe_finds_no_serious_or_critical_accessibility_violation(page, demo_live, where):
    if where != "sign-in":
        sign_in(page, demo_live, demo_live.practitioner)
    page.goto(demo_live.base_url + PAGES[where].format(child=demo_live.child_id()))
    results = Axe().run(page)
    assert results.response["passes"], "axe ran its rules on the page"
    blocking = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in results.response["violations"] if v["impact"] in BLOCKING]  # fmt: skip
    assert not blocking, blocking


def test_the_accessibility_check_can_fail(page, demo_live):
    """The same check on a page spoilt on purpose: an input without its label is a critical violation."""
    page.goto(demo_live.base_url + "/sign-in")
    page.evaluate("document.querySelector('label[for=token]').remove()")
    violations = Axe().run(page).response["violations"]
    assert any(v["id"] == "label" and v["impact"] in BLOCKING for v in violations), violations
