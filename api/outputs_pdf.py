"""PDF renderings of a child's subject access export and anonymised review (fpdf2, pure Python).

A4, the OFFICIAL-SENSITIVE marking in the header and footer of every page, "page N of M", and per
entry its date, agency (by name for the child, by pseudonym for a review), category and text. The
text is set in DejaVu Sans where the system has it (any script a name may use); otherwise in the
PDF core font, with characters it cannot show replaced. Only what the use case handed over is drawn:
a review's mapping never reaches this module.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from api.usecases.outputs import Review, SubjectAccess

MARKING = "OFFICIAL-SENSITIVE"
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


class _Document(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.title_text = title
        self.unicode = (_DEJAVU / "DejaVuSans.ttf").is_file() and (_DEJAVU / "DejaVuSans-Bold.ttf").is_file()
        if self.unicode:
            self.add_font("Body", "", str(_DEJAVU / "DejaVuSans.ttf"))
            self.add_font("Body", "B", str(_DEJAVU / "DejaVuSans-Bold.ttf"))
            self.face = "Body"
        else:
            self.face = "Helvetica"
        self.alias_nb_pages()
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(title)
        self.add_page()

    def text_of(self, value: object) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.face, "B", 9)
        self.cell(0, 6, MARKING, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.face, "", 8)
        self.cell(0, 5, self.text_of(self.title_text), align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(self.face, "B", 9)
        self.cell(0, 5, MARKING, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.face, "", 8)
        self.cell(0, 5, f"page {self.page_no()} of {{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.set_font(self.face, "B", 13)
        self.multi_cell(0, 7, self.text_of(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def paragraph(self, text: str, *, bold: bool = False, size: int = 10) -> None:
        self.set_font(self.face, "B" if bold else "", size)
        self.multi_cell(0, 5, self.text_of(text), new_x="LMARGIN", new_y="NEXT")

    def entry(self, when: str, agency: str, category: str | None, status: str, lines: list[tuple[str, str]]) -> None:
        shown_status = "" if status == "current" else f" ({status})"
        self.paragraph(f"{when or 'date not recorded'}  |  {agency}  |  {category or 'no category'}{shown_status}",
                       bold=True)  # fmt: skip
        for label, text in lines:
            if text:
                self.paragraph(f"{label}: {text}")
        self.ln(2)


def _entry_lines(entry: dict) -> list[tuple[str, str]]:
    return [("Summary", entry.get("summary")), ("Action taken", entry.get("action_taken")),
            ("Recorded by", entry.get("author_role"))]  # fmt: skip


def subject_access_pdf(export: SubjectAccess) -> bytes:
    """The child's chronology for the child, then what was withheld and why."""
    document = _Document("Subject access: your records in the safeguarding ledger")
    document.heading("Your chronology")
    document.paragraph(f"Child reference: {export.child['id']}. Produced {export.produced_at} by "
                       f"{export.produced_by}. {len(export.entries)} entries, in the order things happened.")  # fmt: skip
    identifiers = ", ".join(v for item in export.child["identifiers"] for k, v in item.items() if k != "agency")
    document.paragraph(f"Your identifiers: {identifiers or 'none'}.")
    known = export.known
    document.paragraph(f"What the records state about who you are: names {', '.join(known.names) or 'none'}; "
                       f"dates of birth {', '.join(known.dates_of_birth) or 'none'}; "
                       f"postcodes {', '.join(known.postcodes) or 'none'}.")  # fmt: skip
    document.ln(3)
    for entry in export.entries:
        document.entry(entry["occurred_at"] or entry["recorded_at"], entry["agency"], entry["category"],
                       entry["status"], _entry_lines(entry))  # fmt: skip
    document.heading("What was withheld and why")
    if not export.withheld:
        document.paragraph("Nothing was withheld.")
    for item in export.withheld:
        document.paragraph(item.sentence())
    document.paragraph("Other people's names and identifiers are shown as [redacted: third party].", size=9)
    return bytes(document.output())


def review_pdf(review: Review) -> bytes:
    """The anonymised chronology of Child A, as a published review would print it."""
    document = _Document("Anonymised chronology of Child A")
    document.heading("Chronology of Child A")
    document.paragraph(f"Produced {review.produced_at}. People are named by pseudonyms, agencies by their kind; "
                       "identifiers, postcodes and dates of birth are removed. Retracted entries are left out.")  # fmt: skip
    document.ln(3)
    for entry in review.document.entries:
        document.entry(entry["date"], entry["agency"], entry["category"], entry["status"], _entry_lines(entry))
    return bytes(document.output())
