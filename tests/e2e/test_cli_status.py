"""``ledger status``: read-only, and its exit status is what a monitoring check branches on.

0 when every read model follows the log, 1 when one is stalled (naming it, the entry's position and
the error's type), 3 when the database cannot be read: a missing SQLite file (which it must not
create), a PostgreSQL schema that does not exist (which it must not create either), a server
that does not answer.
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from api.cli import main
from domain.errors import ReadModelStalled
from projections.chronology import ChronologyProjection
from tests.conftest import POSTGRES_URL
from tests.fictional_case import POLICE, agencies, concern  # noqa: F401  (fixture)


def record(record_id: str) -> dict:
    return concern(POLICE, record_id, {"local_id": f"L-{record_id}"}, "2026-03-01", "neglect")


def status(capsys, url: str, *extra: str) -> tuple[int, str, str]:
    code = main(["status", "--database-url", url, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_healthy_ledger_is_0_and_status_changes_nothing(services, agencies, settings, capsys, tmp_path,
                                                          monkeypatch) -> None:  # fmt: skip
    agencies.submit(record("P-1"))
    services.ledger.submit_many([agencies.envelope(record("P-2"))])  # appended, not yet caught up
    before = services.runner.status()
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    files = sorted(os.listdir(tmp_path))
    monkeypatch.chdir(workdir)
    code, out, err = status(capsys, settings.database_url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == list(services.runner.projections)
    assert all(line.split()[1:] == [str(before[0].position), "1", "following"] for line in lines[1:-1])
    assert lines[-1] == f"log head: notification {before[0].head}"
    code, out, _ = status(capsys, settings.database_url, "--json")
    assert code == 0 and json.loads(out) == [s.as_dict() for s in before]
    assert services.runner.status() == before, "status caught nothing up"
    assert os.listdir(workdir) == [] and sorted(os.listdir(tmp_path)) == files  # no key, no database, nothing


def test_a_stalled_read_model_is_1_naming_the_entry_and_the_error_type(services, agencies, settings, capsys,
                                                                       monkeypatch) -> None:  # fmt: skip
    def refusing_apply(self, conn, items):
        raise ValueError("Fictional: a message quoting record text")

    monkeypatch.setattr(ChronologyProjection, "apply", refusing_apply)
    with pytest.raises(ReadModelStalled, match="read model chronology cannot take log entry at position 1: ValueError"):
        agencies.submit(record("P-1"))
    code, out, _ = status(capsys, settings.database_url)
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("chronology ")]
    assert "STALLED at log position 1 (ValueError) since " in line and "Fictional" not in out
    assert json.loads(status(capsys, settings.database_url, "--json")[1])[2]["stall"]["error"] == "ValueError"


def test_a_database_that_is_not_there_is_3_and_is_not_created(database_url, capsys, tmp_path) -> None:
    if database_url.startswith("sqlite"):
        missing, present = f"sqlite:///{tmp_path / 'typo.db'}", lambda: (tmp_path / "typo.db").exists()
    else:
        schema = "t_never_created_by_status"
        missing = f"{database_url.split('?')[0]}?schema={schema}"

        def present() -> bool:
            with psycopg.connect(POSTGRES_URL.split("?")[0]) as conn:
                query = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s"
                return conn.execute(query, (schema,)).fetchone() is not None

    code, out, err = status(capsys, missing)
    assert (code, out) == (3, "") and err.startswith("ledger: ") and not present()


@pytest.mark.postgres
def test_a_server_that_does_not_answer_is_3(capsys) -> None:
    code, _, err = status(capsys, "postgresql://postgres:hunter2@127.0.0.1:1/test")
    assert code == 3 and "cannot connect to the database at postgresql://postgres:***@127.0.0.1:1/test" in err
    assert "hunter2" not in err


def test_the_status_command_names_every_read_model_bootstrap_wires(services, capsys) -> None:
    code, out, _ = status(capsys, services.settings.database_url, "--json")
    assert code == 0 and [model["name"] for model in json.loads(out)] == list(services.runner.projections)
