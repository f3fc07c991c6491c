"""``ledger import --mapping FILE.toml DATA.csv``: a case system's CSV export as record JSON lines.

Agencies rarely hold records in the ledger's shape; they can export a spreadsheet. A mapping file
(TOML) declares, once, how its columns become the fields of SPEC section 2: constants, which column
fills which field (``subject.nhs_number`` for a nested one), how a column's values translate
(``Neglect`` to ``neglect``), how its dates are written, and which columns hold lists. Every record
made is checked by the ledger's own validator (domain/records.py) before it is written, so what
comes out is ready for ``ledger push``; a row that is not a valid record is named by its row number
and why, never by its content (it is a child's data), and is left out. Exit status 0 when every row
made a record, 1 when a row was refused, 2 for a mapping that does not fit the file. The format is
documented, with a worked example, in docs/integrators.md. The parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.cli import EXIT_REFUSED
from api.cli_push import record_problem
from domain.errors import MalformedRequest
from domain.records import FIELDS

SECTIONS = {"timezone", "record", "columns", "values", "formats", "lists"}
#: strptime directives that make a format a moment (written with its offset), not a bare date.
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%X", "%c", "%T", "%R")


class Mapping:
    """A parsed mapping file: what each record field is made from."""

    def __init__(self, data: dict, where: str):
        unknown = sorted(set(data) - SECTIONS)
        if unknown:
            raise MalformedRequest(f"{where}: unknown sections or keys {unknown}; known: {sorted(SECTIONS)}")
        self.where = where
        self.constants: dict = self._table(data, "record")
        self.columns: dict[str, str] = self._table(data, "columns")
        self.values: dict[str, dict] = self._table(data, "values")
        self.formats: dict[str, str] = self._table(data, "formats")
        self.lists: dict[str, str] = self._table(data, "lists")
        try:
            self.zone = ZoneInfo(data.get("timezone", "UTC"))
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise MalformedRequest(f"{where}: timezone must be an IANA zone name such as Europe/London") from None
        for field in [*self.constants, *self.columns]:
            if field.split(".", 1)[0] not in FIELDS:
                raise MalformedRequest(f"{where}: {field!r} is not a record field; fields: {', '.join(sorted(FIELDS))}")
        for section in ("values", "formats", "lists"):
            strays = sorted(set(getattr(self, section)) - set(self.columns))
            if strays:
                raise MalformedRequest(f"{where}: [{section}] names fields no column fills: {strays}")

    def _table(self, data: dict, name: str) -> dict:
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise MalformedRequest(f"{self.where}: [{name}] must be a table")
        return table

    def check_header(self, header: list[str]) -> None:
        missing = sorted(set(self.columns.values()) - set(header))
        if missing:
            raise MalformedRequest(f"{self.where}: the CSV file has no column {missing[0]!r} (its columns: {header})")

    def record(self, row: dict[str, str]) -> dict:
        """The record a row makes: constants first, then each non-empty mapped cell, translated.
        An empty cell leaves its field out (the ledger refuses null)."""
        record: dict = {}
        for field, value in self.constants.items():
            _put(record, field, value)
        for field, column in self.columns.items():
            cell = (row.get(column) or "").strip()
            if cell:
                _put(record, field, self._convert(field, column, cell))
        return record

    def _convert(self, field: str, column: str, cell: str) -> object:
        if field in self.lists:
            return [item.strip() for item in cell.split(self.lists[field]) if item.strip()]
        if field in self.values:
            if cell not in self.values[field]:
                raise MalformedRequest(f"column {column!r} holds a value that [values.{field}] does not list")
            return self.values[field][cell]
        if field in self.formats:
            form = self.formats[field]
            try:
                moment = datetime.strptime(cell, form)
            except ValueError:
                raise MalformedRequest(f"column {column!r} is not written as {form!r}") from None
            if not any(directive in form for directive in _TIME_DIRECTIVES):
                return moment.date().isoformat()
            return moment.replace(tzinfo=self.zone).isoformat()
        return cell


def _put(record: dict, field: str, value: object) -> None:
    """Set ``a.b`` in nested objects."""
    *parents, last = field.split(".")
    for name in parents:
        record = record.setdefault(name, {})
    record[last] = value


def cmd_import(args: argparse.Namespace) -> int:
    mapping_path = Path(args.mapping)
    try:
        mapping = Mapping(tomllib.loads(mapping_path.read_text(encoding="utf-8")), str(mapping_path))
    except tomllib.TOMLDecodeError as error:
        raise MalformedRequest(f"{mapping_path} is not TOML: {error}") from None
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    made = refused = 0
    try:
        with open(args.csv, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            mapping.check_header(list(reader.fieldnames or []))
            for number, row in enumerate(reader, start=2):  # row 1 is the header
                try:
                    record = mapping.record(row)
                except MalformedRequest as error:
                    problem = str(error)
                else:
                    line = json.dumps(record, ensure_ascii=False)
                    problem = record_problem(line.encode("utf-8"))
                if problem is not None:
                    print(f"ledger import: row {number} left out: {problem}", file=sys.stderr)
                    refused += 1
                    continue
                out.write(line + "\n")
                made += 1
    finally:
        if out is not sys.stdout:
            out.close()
    where = f" to {args.out}" if args.out else ""
    print(f"ledger import: {made} records written{where}, {refused} rows left out", file=sys.stderr)
    return EXIT_REFUSED if refused else 0
