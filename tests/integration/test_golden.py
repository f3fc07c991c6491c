"""The golden ledgers (tests/data/golden*, made once by tests/data/make_golden.py and frozen): every
version of the ledger must verify them, and give every entry of every kind back byte for byte from
the events stored for it. A change to any entry kind's bytes, or to how stored events decode, fails
here; new kinds need a new golden set (the last test says which)."""

from __future__ import annotations

import base64
import inspect
import json
import pkgutil
import shutil
import sqlite3
from importlib import import_module
from pathlib import Path

import pytest
from eventsourcing.domain import CanMutateAggregate

import domain
from api.bootstrap import read_models
from api.cli import main
from domain.checkpoint import parse_checkpoint
from domain.entries import LEDGER_SIGNATURE, entry_bytes, ledger_signed
from projections.db import make_engine
from projections.eventstore import open_ledger
from projections.runner import ProjectionRunner

DATA = Path(__file__).parents[1] / "data"
GOLDEN = sorted(path for path in DATA.glob("golden*") if (path / "ledger.db").is_file())


def exported(golden: Path) -> list[bytes]:
    lines = (golden / "export" / "entries.jsonl").read_text().splitlines()
    return [base64.b64decode(json.loads(line)["entry"]) for line in lines]


def test_there_is_a_golden_ledger() -> None:
    assert GOLDEN, "tests/data/golden is missing"


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.name for g in GOLDEN])
def test_the_golden_export_verifies_to_its_signed_root(golden, capsys) -> None:
    bundle = golden / "export"
    assert main(["verify", str(bundle), "--vkey", str(bundle / "log.vkey"), "--processes", "0"]) == 0
    checkpoint = parse_checkpoint((bundle / "checkpoint").read_text().split("\n\n", 1)[0] + "\n")
    out = capsys.readouterr().out
    assert checkpoint.size == len(exported(golden))
    assert f"verified {checkpoint.size} entries" in out and base64.b64encode(checkpoint.root).decode() in out


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.name for g in GOLDEN])
def test_the_golden_ledger_gives_its_entries_back_byte_for_byte_and_verifies(golden, tmp_path, capsys) -> None:
    copy = tmp_path / "ledger.db"
    shutil.copyfile(golden / "ledger.db", copy)
    url = f"sqlite:///{copy}"
    entries = exported(golden)
    with sqlite3.connect(copy) as conn:
        stored = [bytes(e) for (e,) in conn.execute("SELECT entry FROM integrity_leaves ORDER BY leaf_index")]
    assert stored == entries, "the stored entry bytes are the exported ones"
    ledger = open_ledger(url)
    engine = make_engine(url)
    try:
        events = ledger.recorder.select_notifications(start=1, limit=len(entries) + 1)
        assert [entry_bytes(ledger.mapper.to_domain_event(n)) for n in events] == entries
        # Read models may change between versions; the log may not. Rebuild them, then verify it all.
        runner = ProjectionRunner(ledger, engine, [p for p in read_models() if p.name != "integrity"])
        for name in runner.projections:
            runner.rebuild(name, recreate=True)
    finally:
        ledger.close()
        engine.dispose()
    vkey = golden / "export" / "log.vkey"
    assert main(["verify", "--database-url", url, "--vkey", str(vkey), "--processes", "0"]) == 0
    assert f"verified {len(entries)} entries" in capsys.readouterr().out


def entry_kinds() -> set[str]:
    """Every entry kind an event class of the domain declares."""
    for module in pkgutil.iter_modules(domain.__path__):
        import_module(f"domain.{module.name}")
    found, pending = set(), [CanMutateAggregate]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if inspect.getmodule(cls).__name__.startswith("domain.") and "ENTRY_KIND" in vars(cls):
            found.add(cls.ENTRY_KIND)
    return found


def test_every_entry_kind_and_both_forms_of_a_signed_kind_are_frozen_in_a_golden_ledger() -> None:
    frozen, signed, unsigned = set(), set(), set()
    for golden in GOLDEN:
        for entry in exported(golden):
            data = json.loads(entry)
            frozen.add(data["kind"])
            if ledger_signed(data["kind"]):
                (signed if LEDGER_SIGNATURE in data else unsigned).add(data["kind"])
    assert {"record", "access", "agency_registered"} <= frozen
    assert unsigned and signed, "entries from before and after ledger signatures"
    missing = entry_kinds() - frozen
    assert not missing, (
        f"entry kinds {sorted(missing)} are in no golden ledger: extend build_every_kind in "
        "tests/data/make_golden.py and make a new set beside the others (never regenerate one): "
        ".venv/bin/python -m tests.data.make_golden --out tests/data/golden-N"
    )
