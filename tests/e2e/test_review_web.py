"""The anonymised review over real HTTP (issue 14, item 3), on both backends: ``GET
/children/{id}/review`` (and ``?format=pdf``) for the child's council and inquiries, naming nobody the
demo case holds and never the mapping; each view one access entry; another council is answered as
an unknown child would be."""

from __future__ import annotations

from api.outputs_pdf import MARKING
from domain.pseudonyms import leaks
from projections.access import reads_of
from tests.integration.test_outputs import identifying_values, pdf_text
from tests.web_demo import demo_live  # noqa: F401 - the fixture


def reviews(live, child_id: str) -> list:
    live.services.writes.exclusive(live.services.runner.catch_up)
    with live.services.engine.connect() as conn:
        return [read for read in reads_of(conn, [child_id]) if read.read == "review"]


def test_the_review_page_and_its_pdf_name_nobody_and_each_view_is_logged(demo_live):
    child_id = demo_live.child_id()
    before = len(reviews(demo_live, child_id))
    for token, holder in ((demo_live.practitioner, "Sam Example"), (demo_live.inquiry, "Review Panel")):
        client = demo_live.signed_in(token)
        page = client.get(f"/children/{child_id}/review")
        assert page.status_code == 200, page.text
        assert "Child A" in page.text and "Mother" in page.text and "Adult 1" in page.text
        assert leaks(page.text, identifying_values()) == []
        assert child_id not in page.text.split("<main", 1)[1]  # the body names the child by pseudonym only
        pdf = client.get(f"/children/{child_id}/review", params={"format": "pdf"})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text, pages = pdf_text(pdf.content)
        assert "Child A" in text and leaks(text, identifying_values()) == [] and MARKING in pages[-1]
        assert [read.holder for read in reviews(demo_live, child_id)][-2:] == [holder, holder]
    assert len(reviews(demo_live, child_id)) == before + 4


def test_another_council_is_answered_as_for_an_unknown_child(demo_live):
    child_id = demo_live.child_id()
    client = demo_live.signed_in(demo_live.other_council)
    answer = client.get(f"/children/{child_id}/review")
    assert answer.status_code == 404 and "Child A" not in answer.text
    assert reviews(demo_live, child_id)[-1].outcome == "refused"


def test_a_browser_without_a_session_is_sent_to_sign_in(demo_live):
    answer = demo_live.browser_client().get(f"/children/{demo_live.child_id()}/review")
    assert answer.status_code == 303 and answer.headers["location"].endswith("/sign-in")
