"""``ledger import --mapping FILE.toml DATA.csv``: the worked example of docs/integrators.md gives the
records it promises, each valid; a row that cannot be a record is named by number and left out
(never echoed: it is a child's data); a mapping that does not fit the file is one line, exit 2.
It touches no storage, so it has no backend to vary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import EXIT_REFUSED, EXIT_USAGE, main
from api.cli_push import record_problem

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
MAPPING, DATA = EXAMPLES / "northshire-police.toml", EXAMPLES / "northshire-police.csv"


def run(capsys, *args) -> tuple[int, str, str]:
    status = main(["import", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_worked_example_gives_valid_records_as_documented(capsys, tmp_path):
    status, out, err = run(capsys, "--mapping", MAPPING, DATA)
    assert status == 0 and err == "ledger import: 2 records written, 0 rows left out\n"
    first, second = [json.loads(line) for line in out.splitlines()]
    assert first == {
        "agency": "northshire-police", "type": "concern", "record_id": "NP-2026-0101",
        "occurred_at": "2026-03-01T21:40:00+00:00", "category": "neglect",
        "summary": 'Fictional: child found alone at the bus stop at night, said "mum is at work".',
        "action_taken": "Took child home; referral to MASH", "local_authority": "309",
        "subject": {"nhs_number": "9434765919", "given_name": "Ada", "family_name": "Example",
                    "date_of_birth": "2016-02-14", "aliases": ["Addy", "A. Example"]},
        "author": {"role": "PC"},
    }  # fmt: skip
    # Summer time in the export's zone; an empty cell leaves its field out.
    assert second["occurred_at"] == "2026-07-28T08:15:00+01:00" and "action_taken" not in second
    assert all(record_problem(line.encode()) is None for line in out.splitlines())
    written = tmp_path / "records.jsonl"
    assert run(capsys, "--mapping", MAPPING, DATA, "--out", written)[:2] == (0, "")
    assert written.read_text() == out


def test_a_row_that_cannot_be_a_record_is_left_out_and_named_by_number_only(capsys, tmp_path):
    secret = "Fictional secret words"
    rows = DATA.read_text().splitlines()
    bad = [
        rows[1].replace(",Neglect,", ",Bruising,").replace("NP-2026-0101", "NP-X1").replace("Fictional:", secret),
        rows[1].replace("01/03/2026 21:40", "2026-03-01").replace("NP-2026-0101", "NP-X2"),
        rows[1].replace("9434765919", "9434765918").replace("NP-2026-0101", "NP-X3"),  # check digit
    ]
    data = tmp_path / "export.csv"
    data.write_text("\n".join([rows[0], *bad, rows[2]]) + "\n")
    status, out, err = run(capsys, "--mapping", MAPPING, data)
    assert status == EXIT_REFUSED
    assert [json.loads(line)["record_id"] for line in out.splitlines()] == ["NP-2026-0102"]
    lines = err.splitlines()
    assert [line.split(":")[0:2] for line in lines[:3]] == [["ledger import", " row 2 left out"],
                                                           ["ledger import", " row 3 left out"],
                                                           ["ledger import", " row 4 left out"]]  # fmt: skip
    assert "[values.category]" in lines[0] and "%d/%m/%Y %H:%M" in lines[1] and "Modulus 11" in lines[2]
    assert secret not in err and "Bruising" not in err and lines[-1].endswith("1 records written, 3 rows left out")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda m: m.replace('"Case Ref"', '"Case Number"'), "no column 'Case Number'"),
        (lambda m: m.replace("record_id =", "case_number ="), "'case_number' is not a record field"),
        (lambda m: m + '\n[colours]\nx = "y"\n', "unknown sections or keys ['colours']"),
        (lambda m: m.replace('"Europe/London"', '"Europe/Northshire"'), "IANA zone"),
        (lambda m: m.replace("[formats]", "[formats\n"), "is not TOML"),
    ],
)
def test_a_mapping_that_does_not_fit_is_one_line_and_exit_2(capsys, tmp_path, change, words):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(change(MAPPING.read_text()))
    status, out, err = run(capsys, "--mapping", mapping, DATA)
    assert (status, out) == (EXIT_USAGE, "") and err.count("\n") == 1 and words in err, err
