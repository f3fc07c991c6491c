"""The subject access export and the anonymised review of the demo child, on both backends (issue 14,
items 3 and 4): through the use cases and ``ledger sar`` / ``ledger review``, with their PDFs read
back as text. The review names nobody the case holds; the export holds no other person's name; each
output is one access entry; roles that read no children are refused and nothing is stored or written."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from pypdf import PdfReader

from api.cli import main
from api.demo import AGENCIES, CASE_AFTER_REFERRAL, CASE_AS_IT_HAPPENED, OTHER_CHILDREN, build_demo
from api.outputs_pdf import MARKING, review_pdf, subject_access_pdf
from api.tokens import Principal
from api.usecases.children import ChildSelector, NotKnownToCouncil
from api.usecases.outputs import Outputs
from domain.errors import Forbidden
from domain.pseudonyms import leaks
from domain.redaction import REDACTED
from projections.access import reads_of
from projections.identity import resolve_child
from projections.integrity import tree_size
from tests.fictional_case import HEALTH, NHS, SCHOOL, agencies, school_case  # noqa: F401 - the fixture
from tests.fictional_case import concern as fictional

CASE = CASE_AS_IT_HAPPENED + CASE_AFTER_REFERRAL + OTHER_CHILDREN
#: People the demo's free text names who are no record's subject.
IN_THE_TEXT = ("Jade Samplewell", "Jade", "Dale Placeholder", "Dale", "Placeholder")


def identifying_values() -> list[str]:
    """Every name, identifier, postcode and date of birth the case's payloads hold (subjects and
    same_child lists, record ids, agencies' ids and names), and the people its text names."""
    found = set(IN_THE_TEXT)
    for payload in CASE:
        for named in [payload.get("subject", {}), *payload.get("same_child", [])]:
            for value in named.values():
                found.update(value if isinstance(value, list) else [str(value)])
        found.update({payload["record_id"], payload["agency"]})
    found.update(part for agency in AGENCIES for part in (agency.agency_id, agency.name))
    return sorted(found)


def others_of(child_payloads) -> list[str]:
    """The unrelated children's names and identifiers (``Lark`` is the demo child's name too)."""
    values = {str(v) for p in OTHER_CHILDREN for v in p["subject"].values()} - {"Lark"}
    return sorted(values | set(IN_THE_TEXT))


def pdf_text(data: bytes) -> tuple[str, list[str]]:
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]
    return " ".join("\n".join(pages).split()), pages


@pytest.fixture
def demo(services, tmp_path):
    made = build_demo(tmp_path / "demo", services=services)
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=made.child_nhs_number)
    return made, child.id


def practitioner(council: str) -> Principal:
    return Principal(token_id="p" * 16, role="practitioner", local_authority=council, holder="Sam Example (fictional)")


INQUIRY = Principal(token_id="i" * 16, role="inquiry", holder="Review Panel (fictional)")


def looks(services, child_id: str) -> list:
    services.writes.exclusive(services.runner.catch_up)
    with services.engine.connect() as conn:
        return reads_of(conn, [child_id])


def test_the_review_of_the_demo_child_names_nobody_the_case_holds(services, demo):
    made, child_id = demo
    review = Outputs(services).review(INQUIRY, ChildSelector(nhs_number=made.child_nhs_number))
    document = json.dumps(review.as_json(), ensure_ascii=False)
    text, pages = pdf_text(review_pdf(review))
    for shown in (document, text):
        assert leaks(shown, identifying_values()) == [], leaks(shown, identifying_values())
        assert leaks(shown, [child_id]) == []
        for pseudonym in ("Child A", "Mother", "Adult 1", "Police", "Health visiting", "Emergency department"):
            assert pseudonym in shown, pseudonym  # the checks can fail: the entries are there
    assert len(review.document.entries) >= 12
    assert all(MARKING in page and f"of {len(pages)}" in page for page in pages)
    mapping = json.dumps(review.mapping_json())  # the mapping, kept apart, says who is who
    assert "Jade Samplewell" in mapping and "Dale Placeholder" in mapping and child_id in mapping
    (last,) = [read for read in looks(services, child_id) if read.read == "review"]
    assert (last.holder, last.role, last.outcome) == ("Review Panel (fictional)", "inquiry", "allowed")


def test_the_subject_access_export_keeps_the_childs_entries_and_redacts_everyone_else(services, demo):
    made, child_id = demo
    export = Outputs(services).subject_access(practitioner(made.council), ChildSelector(nhs_number=made.child_nhs_number))
    document = json.dumps(export.as_json(), ensure_ascii=False)
    text, pages = pdf_text(subject_access_pdf(export))
    for shown in (document, text):
        assert leaks(shown, others_of(OTHER_CHILDREN)) == []
        assert "Lark" in shown and made.child_nhs_number in shown and REDACTED in shown
        assert "Northshire Police (fictional)" in shown  # agencies by name, for the child
        assert "Lark was not brought to the 6-8 week baby check." in shown
    assert "What was withheld and why" in text and "names of third parties redacted" in text
    assert all(MARKING in page and f"page {n} of {len(pages)}" in page for n, page in enumerate(pages, 1))
    (withheld,) = export.withheld
    assert withheld.count >= 6 and "Schedule 2 paragraph 16" in withheld.basis
    assert len(export.entries) == len({p["record_id"] for p in CASE_AS_IT_HAPPENED + CASE_AFTER_REFERRAL}) - 1
    (last,) = [read for read in looks(services, child_id) if read.read == "subject_access"]
    assert (last.holder, last.local_authority, last.outcome) == ("Sam Example (fictional)", made.council, "allowed")


@pytest.mark.parametrize("role", ["agency", "admin"])
def test_roles_that_read_no_children_are_refused_and_nothing_is_stored(services, demo, role):
    made, _ = demo
    before = _size(services)
    who = Principal(token_id="x" * 16, role=role, agency="northshire-police" if role == "agency" else None)
    outputs = Outputs(services)
    for produce in (outputs.review, outputs.subject_access):
        with pytest.raises(Forbidden):
            produce(who, ChildSelector(nhs_number=made.child_nhs_number))
    assert _size(services) == before


def test_another_councils_practitioner_is_told_what_an_unknown_child_would_tell_and_it_is_logged(services, demo):
    made, child_id = demo
    for produce in (Outputs(services).review, Outputs(services).subject_access):
        with pytest.raises(NotKnownToCouncil):
            produce(practitioner("123"), ChildSelector(nhs_number=made.child_nhs_number))
    refused = [read for read in looks(services, child_id) if read.outcome == "refused"]
    assert sorted(read.read for read in refused) == ["review", "subject_access"]


def _size(services) -> int:
    with services.engine.connect() as conn:
        return tree_size(conn)


def _ledger(settings, *args: str) -> int:
    return main([*args, "--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key])


def test_ledger_sar_and_review_write_their_files_and_the_mapping_apart(services, settings, demo, tmp_path, capsys):
    made, child_id = demo
    sar, review = tmp_path / "sar", tmp_path / "review"
    assert _ledger(settings, "sar", "--child", made.child_nhs_number, "--out", str(sar), "--by", "Jo Officer") == 0
    assert sorted(p.name for p in sar.iterdir()) == ["chronology.json", "chronology.pdf", "withheld.json"]
    assert json.loads((sar / "withheld.json").read_text())["withheld"][0]["count"] >= 6
    assert _ledger(settings, "review", "--child", made.child_nhs_number, "--out", str(review)) == 0
    assert sorted(p.name for p in review.iterdir()) == ["mapping.json", "review.json", "review.pdf"]
    assert stat.S_IMODE((review / "mapping.json").stat().st_mode) == 0o600
    published = (review / "review.json").read_text() + pdf_text((review / "review.pdf").read_bytes())[0]
    assert leaks(published, identifying_values()) == [] and "Child A" in published
    assert "Jade Samplewell" in (review / "mapping.json").read_text()
    holders = {(read.read, read.holder) for read in looks(services, child_id)}
    assert {("subject_access", "Jo Officer"), ("review", "cli")} <= holders


def test_an_unknown_child_writes_nothing(services, settings, demo, tmp_path, capsys):
    for command in ("sar", "review"):
        out = tmp_path / command
        assert _ledger(settings, command, "--child", "9434765919", "--out", str(out)) != 0
        assert not out.exists()
    assert "no child with that identifier" in capsys.readouterr().err


def test_a_directory_that_is_not_empty_is_refused_before_anything_is_looked_up(services, settings, demo, tmp_path):
    made, _ = demo
    out: Path = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("someone's file")
    before = _size(services)
    assert _ledger(settings, "review", "--child", made.child_nhs_number, "--out", str(out)) != 0
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and _size(services) == before


def test_other_subjects_staff_and_other_identifiers_in_the_text_are_withheld(services, agencies):
    school_case(agencies)
    agencies.submit(fictional(HEALTH, "GP-1", {"nhs_number": NHS[1], "given_name": "Kit", "family_name": "Otherly",
                                               "postcode": "ZZ9 9ZZ"}, "2026-02-01", "routine_contact"),
                    fictional(HEALTH, "GP-2", {"local_id": "GP-KIT-1", "given_name": "Kit"}, "2026-02-02", "other"))  # fmt: skip
    agencies.submit(fictional(SCHOOL, "OAK-2026-30", {"upn": "B801200005001"}, "2026-03-20", "neglect",
                              summary="Riley said Kit Otherly (4010232137, ZZ9 9ZZ, GP-KIT-1) hit them; Pat Staffer saw it.",
                              author={"role": "teacher", "name": "Pat Staffer"}, local_authority="309"))  # fmt: skip
    services.runner.catch_up()
    hidden = ["Kit Otherly", "Kit", "Otherly", "4010232137", "ZZ9 9ZZ", "GP-KIT-1", "Pat Staffer", "Pat", "Staffer"]
    selector = ChildSelector(upn="B801200005001")
    export = Outputs(services).subject_access(practitioner("309"), selector)
    shown = json.dumps(export.as_json()) + pdf_text(subject_access_pdf(export))[0]
    assert leaks(shown, hidden) == [] and "Riley said [redacted: third party]" in shown
    counts = {item.what.split(" (")[0]: item.count for item in export.withheld}
    assert counts["names of agency staff redacted"] == 1 and counts["names of third parties redacted"] == 1
    assert counts["identifiers of third parties redacted"] == 3
    review = Outputs(services).review(INQUIRY, selector)
    published = json.dumps(review.as_json()) + pdf_text(review_pdf(review))[0]
    assert leaks(published, [*hidden, "Riley", "Hart", "Heart", "NP-P-58812", "B801200005001"]) == []
    assert "Child A said Person" in published


def test_a_by_no_access_entry_could_hold_is_refused_and_nothing_is_written(services, settings, demo, tmp_path):
    made, _ = demo
    before, out = _size(services), tmp_path / "sar"
    assert _ledger(settings, "sar", "--child", made.child_nhs_number, "--out", str(out), "--by", "Jo\nOfficer") != 0
    assert not out.exists() and _size(services) == before
