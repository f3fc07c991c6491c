"""The PDFs of a subject access export and a review (api/outputs_pdf.py), read back as text: every
page marked and numbered, and a text the core font cannot set still renders where DejaVu is absent."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from api import outputs_pdf
from api.usecases.outputs import ChildFacts, Review, SubjectAccess
from domain.pseudonyms import Pseudonymised
from domain.redaction import THIRD_PARTY_BASIS, Withheld

ENTRY = {"occurred_at": "2026-03-01", "recorded_at": "2026-03-02T10:00:00Z", "agency": "Fictional Police",
         "category": "neglect", "type": "concern", "status": "current", "action_taken": "Visit.",
         "author_role": "police constable"}  # fmt: skip


def export(entries: int, summary: str) -> SubjectAccess:
    facts = ChildFacts(("Zoë Łukasz",), ("9434765919",), ("NS1 4QT",), ("2021-09-14",))
    return SubjectAccess({"id": "c-1", "identifiers": [{"nhs_number": "9434765919"}]}, facts, "2026-12-02T10:00:00Z",
                         "Jo Officer", [ENTRY | {"summary": summary}] * entries,
                         [Withheld("names of third parties redacted", 3, THIRD_PARTY_BASIS)])  # fmt: skip


def pages_of(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


@pytest.mark.parametrize("dejavu", [True, False])
def test_every_page_is_marked_and_numbered_and_the_withheld_list_ends_it(dejavu, monkeypatch, tmp_path):
    if not dejavu:
        monkeypatch.setattr(outputs_pdf, "_DEJAVU", tmp_path / "no-fonts")
    pages = pages_of(outputs_pdf.subject_access_pdf(export(60, "Zoë said “no” to Łukasz’s visit.")))
    assert len(pages) > 2
    for number, page in enumerate(pages, 1):
        assert page.count(outputs_pdf.MARKING) == 2 and f"page {number} of {len(pages)}" in page
    text = " ".join(" ".join(pages).split())
    assert "What was withheld and why" in text and "3 names of third parties redacted" in text
    assert ("Zoë said “no” to Łukasz’s visit." in text) == dejavu and "9434765919" in text


def test_a_review_pdf_shows_only_the_document():
    document = Pseudonymised([{"date": "2026-03", "agency": "Police", "category": "neglect", "type": "concern",
                               "status": "superseded", "summary": "Child A seen.", "action_taken": None,
                               "author_role": None}], {"Mother": {"kind": "person", "names": ["Jade Real"]}})  # fmt: skip
    (page,) = pages_of(outputs_pdf.review_pdf(Review("c-1", "2026-12-02T10:00:00Z", document)))
    assert "Child A seen." in page and "2026-03" in page and "(superseded)" in page
    assert "Jade Real" not in page and "c-1" not in page
