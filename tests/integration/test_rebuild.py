"""Read models are disposable: rebuilt from the log they are identical, and a killed catch-up resumes.

Identity, chronology, matching and risk are rebuilt after a history with merges, unlinks, amendments,
retractions and decisions, in one batch size and another; a catch-up process is killed with SIGKILL
part-way through a backlog and its successor must leave exactly the tables a rebuild gives. A
rebuild rewrites rows and drops no table unless told to recreate them (tests/e2e/test_rebuild_online.py
runs one under a serving ledger).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import select, text

from api.cli import main
from domain.decisions import record_decision
from domain.errors import LedgerError
from domain.links import link_identities, unlink_identities
from projections.chronology import ChronologyProjection
from projections.identity import IdentityProjection, resolve_child
from projections.matching import MatchingProjection
from projections.risk import RiskProjection, risk_prompts
from projections.runner import ProjectionRunner
from tests.fictional_case import (
    HEALTH,
    NHS,
    POLICE,
    SCHOOL,
    SOCIAL_CARE,
    UPN,
    agencies,  # noqa: F401  (fixture)
    amendment,
    concern,
    identity_link,
    retraction,
    school_case,
)

MINE = ("identity", "chronology", "matching", "risk")


def snapshot(services) -> dict[str, list[tuple]]:
    """Every row of every table of the child-centred read models, in a stable order."""
    found = {}
    with services.engine.connect() as conn:
        for name in MINE:
            for table in services.runner.projections[name].tables:
                found[table.name] = sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
    return found


def history(services, agencies) -> None:
    """A history touching every kind of change the read models follow."""
    school_case(agencies, link=False)
    subject = {"nhs_number": NHS[1], "date_of_birth": "2026-01-20"}
    first = concern(HEALTH, "H-2", subject, "2026-03-02", "physical_injury")
    agencies.submit(first, amendment(first, "H-2a", occurred_at="2026-03-03"),
                    concern(SCHOOL, "S-2", {"upn": UPN[1], "nhs_number": NHS[1]}, "2026-03-04", "neglect"))  # fmt: skip
    agencies.submit(retraction(SCHOOL, "S-2r", "S-2"), identity_link(SOCIAL_CARE, "L-1", [
        {"nhs_number": NHS[0]}, {"upn": UPN[0]}, {"agency": POLICE, "local_id": "NP-P-58812"}]))  # fmt: skip
    link = link_identities(services.ledger, [{"nhs_number": NHS[0]}, {"nhs_number": NHS[1]}], by="sw", reason="r")
    services.runner.catch_up()
    with services.engine.connect() as conn:
        child = resolve_child(conn, nhs_number=NHS[0])
        prompt = risk_prompts(conn, child.id)[0]
    record_decision(services.ledger, prompt_id=prompt.prompt_id, child_id=child.id, rule=prompt.rule,
                    rule_version=prompt.rule_version, records=prompt.records, decision="acknowledged",
                    reason="Fictional: reviewed.", by="sw")  # fmt: skip
    unlink_identities(services.ledger, link_id=link.link_id, by="sw", reason="Fictional: a different child.")
    unlink_identities(services.ledger, agency=SOCIAL_CARE, record_id="L-1", by="sw", reason="Fictional: wrong.")
    services.runner.catch_up()


def test_rebuilt_read_models_equal_the_incrementally_built_ones(services, agencies) -> None:
    history(services, agencies)
    built = snapshot(services)
    assert all(built[name] for name in ("identity_keys", "identity_facts", "chronology_entries", "risk_decisions"))
    for name in MINE:
        services.runner.rebuild(name)
    assert snapshot(services) == built
    small = ProjectionRunner(services.ledger, services.engine,
                             [IdentityProjection(), ChronologyProjection(), MatchingProjection(), RiskProjection()],
                             batch_size=3)  # fmt: skip
    for name in MINE:
        small.rebuild(name)
    assert snapshot(services) == built


def test_the_rebuild_command(services, agencies, settings, capsys) -> None:
    history(services, agencies)
    built = snapshot(services)
    options = ["--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]
    assert main(["rebuild", "chronology", *options]) == 0
    assert capsys.readouterr().out.startswith("rebuilt chronology up to log position ")
    assert main(["rebuild", *options]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == list(services.runner.projections)
    assert snapshot(services) == built
    assert main(["rebuild", "no-such-model", *options]) == 2
    assert "no read model 'no-such-model'" in capsys.readouterr().err


# A catch-up in its own process, small batches, saying after each chronology batch how far it got.
CATCH_UP = textwrap.dedent(
    """
    import sys
    from api.bootstrap import bootstrap
    from api.settings import Settings
    from projections.chronology import ChronologyProjection

    apply = ChronologyProjection.apply

    def reporting_apply(self, conn, items):
        apply(self, conn, items)
        print(items[-1].notification_id, flush=True)

    ChronologyProjection.apply = reporting_apply
    services = bootstrap(Settings(database_url=sys.argv[1], checkpoint_key=sys.argv[2]))
    services.runner.batch_size = 5
    services.runner.catch_up()
    """
)


@pytest.mark.slow
def test_a_catch_up_killed_midway_loses_and_duplicates_nothing(services, agencies, settings) -> None:
    payloads = []
    for i in range(700):
        local = {"local_id": f"C-{i % 150}"}
        payloads.append(concern(POLICE, f"P-{i}", local, f"2026-0{1 + i % 9}-1{i % 10}", "domestic_abuse"))
        if i % 50 == 49:
            pair = [{"agency": POLICE, "local_id": f"C-{i % 150}"}, {"agency": POLICE, "local_id": f"C-{i % 7}"}]
            payloads.append(identity_link(SOCIAL_CARE, f"L-{i}", pair))
        if i % 100 == 99:
            payloads.append(retraction(POLICE, f"R-{i}", f"P-{i - 1}"))
    results = services.ledger.submit_many([agencies.envelope(p) for p in payloads])  # appended, not caught up
    assert not [r for r in results if isinstance(r, LedgerError)]
    end = services.ledger.recorder.max_notification_id()
    child = subprocess.Popen([sys.executable, "-c", CATCH_UP, settings.database_url, settings.checkpoint_key],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for _ in range(40):  # 40 batches of 5 applied: well into the backlog, far from its end
            assert child.stdout.readline(), "the catch-up ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        child.stdout.close()
    stopped = services.runner.position("chronology")
    assert child.returncode == -signal.SIGKILL and 0 < stopped < end
    services.runner.catch_up()  # a successor resumes from the stored positions
    resumed = snapshot(services)
    for name in MINE:
        services.runner.rebuild(name)
    assert snapshot(services) == resumed
    with services.engine.connect() as conn:
        assert len(resumed["chronology_entries"]) == len(payloads)


def schema_marker(services) -> tuple:
    """Something that changes when a read model's tables are dropped and created again: their OIDs
    on PostgreSQL, the schema cookie on SQLite."""
    with services.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            names = [t.name for name in MINE for t in services.runner.projections[name].tables]
            return tuple(conn.execute(text("SELECT CAST(:t AS regclass)::oid"), {"t": n}).scalar() for n in names)
        return (conn.execute(text("PRAGMA schema_version")).scalar(),)


def test_a_rebuild_drops_no_table_unless_asked_to_recreate_them(services, agencies, settings, capsys) -> None:
    history(services, agencies)
    built, marker = snapshot(services), schema_marker(services)
    for name in MINE:
        services.runner.rebuild(name)
    assert snapshot(services) == built and schema_marker(services) == marker
    options = ["--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]
    assert main(["rebuild", "chronology", "--recreate-tables", *options]) == 0
    assert capsys.readouterr().out.startswith("rebuilt chronology up to log position ")
    assert snapshot(services) == built and schema_marker(services) != marker
