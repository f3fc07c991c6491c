"""The practitioner's view for rapid review, over real HTTP on both backends: the child's age at each
event, significant events said in words, the table newest first, the date-range shortcuts, what is new
since the reader last looked (from their own access entries), and the print-out marked OFFICIAL-SENSITIVE
with agency names, the reader's name and the moment printed. Drawn in a browser:
tests/e2e/test_web_view_browser.py."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime

from api import tokens
from api.demo import _LARK, _r, submit_signed
from api.keyfiles import read_private_key
from tests.e2e.test_web_pages import child_page, rows
from tests.web_demo import DemoLive, demo_live  # noqa: F401 - the fixture

AGE = re.compile(r'data-record="([^"]+)"[^>]*>\s*<td>[^<]*</td>\s*<td class="age">([^<]+)</td>')


def ages(html: str) -> dict[str, str]:
    return dict(AGE.findall(html))


def test_each_event_shows_the_childs_age_then_and_significant_events_say_so(demo_live):
    page = child_page(demo_live, demo_live.signed_in(demo_live.practitioner)).text
    said = ages(page)
    assert said["ED-2026-071344"] == "4 months old"  # born 9 March 2026, bruised 13 July
    assert said["HV-2026-0311"] == "1 week old" and said["CSC-26-3502"] == "8 months old"
    significant = set(re.findall(r'data-record="([^"]+)" data-significant="true"', page))
    assert {"ED-2026-071344-A1", "NP-INC-26-17402", "HV-2026-0744", "LAN-0117"} <= significant
    assert not significant & {"HV-2026-0311", "ELM-55120", "LAN-0091"}  # routine contacts, missed checks
    mark = re.search(r'<a class="mark status-current" href="#entry-\d+" [^>]*aria-label="([^"]+)"', page).group(1)
    assert "old" in mark and "routine contact" in mark, mark
    assert re.search(r'aria-label="[^"]*4 months old, physical injury \(significant\), current', page)
    assert 'role="img"' not in page.split('id="timeline"')[1].split("</svg>")[0], "no links inside an image"
    key = page.split('id="timeline-key"')[1].split("</div>")[0]
    assert "physical injury" in key and "domestic abuse" in key and "significant" in key


def test_the_table_can_be_read_newest_first(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    oldest = [record for *_, record in rows(child_page(demo_live, client).text)]
    newest_page = child_page(demo_live, client, order="newest").text
    assert [record for *_, record in rows(newest_page)] == oldest[::-1]
    assert "newest first" in newest_page.split("<caption>")[1].split("</caption>")[0]
    assert child_page(demo_live, client, order="sideways").status_code == 400


def test_the_date_range_shortcuts_set_from_and_keep_the_view(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    page = child_page(demo_live, client, order="newest").text
    zoom = page.split('aria-label="Date range shown"')[1].split("</nav>")[0]
    found = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', zoom)
    links = {words: href.replace("&amp;", "&") for href, words in found}
    assert set(links) == {"last 3 months", "last 6 months", "last 12 months", "all dates"}
    since = re.search(r"from=(\d{4}-\d\d-\d\d)", links["last 3 months"]).group(1)
    assert "order=newest" in links["last 3 months"] and "from=" not in links["all dates"]
    narrowed = client.get(links["last 3 months"].split("#")[0]).text
    shown = rows(narrowed)
    assert shown and len(shown) < len(rows(page))
    assert 'aria-current="true">last 3 months' in narrowed
    happened = [datetime.strptime(" ".join(when.split()[:3]), "%d %b %Y").date()
                for when in re.findall(r'data-record="[^"]+"[^>]*>\s*<td>([^<–]+)</td>', narrowed)]  # fmt: skip
    assert happened and min(happened) >= date.fromisoformat(since)  # (a retraction has no date of its own)


def _add_record(live: DemoLive, record_id: str) -> None:
    key = read_private_key(live.demo.directory / "keys" / "little-acorns-nursery.key")
    submit_signed(live.services, {"little-acorns-nursery": key}, (
        _r("little-acorns-nursery", record_id, "2026-11-20", "routine_contact", "Collected by grandmother.",
           subject=_LARK),
    ))  # fmt: skip
    live.services.writes.exclusive(live.services.runner.catch_up)


def test_what_was_recorded_since_the_readers_last_look_is_marked_new_and_this_look_does_not_count(demo_live):
    secret, _ = tokens.issue(demo_live.services.engine, "practitioner", local_authority=demo_live.demo.council,
                             holder="Robin Fresh")  # fmt: skip
    client = demo_live.signed_in(secret)
    first = child_page(demo_live, client).text
    assert "This is your first look" in first and 'data-new="true"' not in first
    record_id = f"LAN-NEW-{uuid.uuid4().hex[:6]}"
    _add_record(demo_live, record_id)
    second = child_page(demo_live, client).text
    marked = re.findall(r'data-record="([^"]+)" data-significant="\w+" data-new="true"', second)
    assert marked == [record_id], "only what was recorded after the reader's own last look"
    assert re.search(r"1 entry new since you last looked on \d+ \w+ 2\d{3} \d\d:\d\d:\d\d UTC", second)
    assert second.count('class="mark status-current" href') >= 1 and 'data-new="true" aria-label=' in second
    third = child_page(demo_live, client).text  # the second look is now the last one
    assert 'data-new="true"' not in third and "0 entries new since you last looked" in third
    other = child_page(demo_live, demo_live.signed_in(demo_live.practitioner)).text  # looked before it was added
    assert re.findall(r'data-record="([^"]+)" data-significant="\w+" data-new="true"', other) == [record_id]


def test_the_print_is_marked_names_agencies_and_the_reader_and_keeps_leaves_and_checkpoint(demo_live):
    client = demo_live.signed_in(demo_live.practitioner)
    page = client.get(f"/children/{demo_live.child_id()}/print").text
    assert page.count("OFFICIAL-SENSITIVE") >= 2
    assert 'data-testid="marking-top">OFFICIAL-SENSITIVE' in page
    assert 'data-testid="marking-bottom">OFFICIAL-SENSITIVE' in page
    printed = re.search(r'data-testid="printed-by">([^<]+)<', page).group(1)
    assert re.match(r"\d+ \w+ 2\d{3} \d\d:\d\d:\d\d UTC by Sam Example \(practitioner, council 990\)", printed)
    prompts = re.findall(r'<li class="prompt-line">(.*?)</li>', page, re.S)
    assert prompts and not any(re.search(r"records\s+northshire-", p) for p in prompts)
    assert any("Emergency Department (fictional) ED-2026-071344-A1 (leaf" in p for p in prompts)
    assert rows(page) and "signed checkpoint of tree size" in page and "<pre>" in page
    assert ages(page)["ED-2026-071344"] == "4 months old"
