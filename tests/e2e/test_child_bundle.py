"""One child's evidence bundle end to end, on both backends (issue 14, item 1): ``ledger export
--child`` of the demo child and ``ledger verify`` of it (and of the installed command), holding none
of the demo's unrelated children; ``--as-of``; tampered files; and ``GET /v1/bundle`` for inquiries
only, whose JSON ``ledger verify`` checks as it is."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.demo import OTHER_CHILDREN, build_demo
from tests.api_live import fresh_nhs_number, live  # noqa: F401 - the fixture
from tests.conftest import concern
from tests.e2e.test_cli import Cli, cli  # noqa: F401 - the fixture
from tests.log_entries import mentions

#: Every identifier, name, postcode and date of birth of the demo's unrelated children.
OTHERS = sorted({str(value) for record in OTHER_CHILDREN for value in record["subject"].values()} - {"Lark"}
                | {record["record_id"] for record in OTHER_CHILDREN})  # fmt: skip


def plain_text(out: Path) -> str:
    """Every file of a bundle directory, with each entry and each record's payload decoded too."""
    parts = [path.read_text(encoding="utf-8") for path in sorted(out.iterdir())]
    for line in (out / "entries.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(base64.b64decode(json.loads(line)["entry"]))
        parts.append(json.dumps(entry, ensure_ascii=False))
        if entry["kind"] == "record":
            parts.append(base64.b64decode(entry["envelope"]["payload"]).decode("utf-8"))
    return "\n".join(parts)


def records_of(out: Path) -> list[dict]:
    lines = (out / "entries.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(base64.b64decode(json.loads(line)["entry"])) for line in lines]
    return [entry for entry in entries if entry["kind"] == "record"]


@pytest.fixture
def demo(cli, tmp_path):
    from api.bootstrap import bootstrap
    from api.settings import Settings

    options = dict(zip(cli.options[::2], cli.options[1::2]))
    services = bootstrap(Settings(database_url=options["--database-url"], checkpoint_key=options["--checkpoint-key"]))
    try:
        yield build_demo(tmp_path / "demo", services=services)
    finally:
        services.close()


def test_the_demo_childs_bundle_verifies_offline_and_holds_none_of_the_unrelated_children(cli, demo, tmp_path):
    out = tmp_path / "bundle"
    status, said, _ = cli("export", "--out", str(out), "--child", demo.child_nhs_number)
    assert status == 0 and "about child" in said, said
    assert sorted(path.name for path in out.iterdir()) == ["checkpoint", "entries.jsonl", "log.vkey", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "safeguarding-ledger-child-bundle" and manifest["as_of"] is None
    status, said, err = cli("verify", str(out), storage=False)
    assert status == 0 and f"verified the bundle of child {manifest['child']['id']}" in said, said + err
    text = plain_text(out)
    assert demo.child_nhs_number in text and "Samplewell" in text  # the check can fail
    for value in OTHERS:
        assert not mentions(text, value), value
    assert len(records_of(out)) >= 8
    # The installed command checks it alike, knowing nothing but the directory.
    run = subprocess.run([str(Path(sys.executable).parent / "ledger"), "verify", str(out)], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_an_as_of_bundle_excludes_what_was_recorded_later(cli, demo, tmp_path):
    full, early = tmp_path / "full", tmp_path / "early"
    as_of = demo.before_referral.isoformat()
    assert cli("export", "--out", str(full), "--child", demo.child_nhs_number)[0] == 0
    status, said, err = cli("export", "--out", str(early), "--child", demo.child_nhs_number, "--as-of", as_of)
    assert status == 0, said + err
    assert cli("verify", str(early), storage=False)[0] == 0
    moments = [record["at"] for record in records_of(early)]
    assert moments and len(moments) < len(records_of(full))
    assert max(moments) < demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert json.loads((early / "manifest.json").read_text())["as_of"].startswith(demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S"))


def _rewrite(path: Path, change) -> None:
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def _flip_entry(text: str) -> str:
    lines = text.splitlines()
    line = json.loads(lines[-1])
    raw = bytearray(base64.b64decode(line["entry"]))
    raw[len(raw) // 2] ^= 1
    line["entry"] = base64.b64encode(bytes(raw)).decode()
    return "\n".join([*lines[:-1], json.dumps(line)]) + "\n"


def _flip_proof(text: str) -> str:
    lines = text.splitlines()
    line = json.loads(lines[0])
    line["proof"][0] = base64.b64encode(bytes(32)).decode()
    return "\n".join([json.dumps(line), *lines[1:]]) + "\n"


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("entries.jsonl", _flip_entry, "leaf "),
        ("entries.jsonl", _flip_proof, "inclusion proof"),
        ("checkpoint", lambda text: text.replace("\n", "\n ", 1), "bundle: the checkpoint"),
        ("manifest.json", lambda text: text.replace('"as_of": null', '"as_of": "2000-01-01T00:00:00.000000Z"'),
         "after the bundle's as_of"),
        ("entries.jsonl", lambda text: "\n".join(text.splitlines()[1:]) + "\n", "bundle: the entries"),
        ("log.vkey", lambda text: text[:-6] + "AAAAA\n", "bundle:"),
    ],
)
def test_a_tampered_bundle_fails_with_a_clear_message(cli, demo, tmp_path, name, change, words):
    out = tmp_path / "bundle"
    assert cli("export", "--out", str(out), "--child", demo.child_nhs_number)[0] == 0
    _rewrite(out / name, change)
    status, said, err = cli("verify", str(out), storage=False)
    assert status == 1 and words in said, said + err


def test_a_full_export_still_verifies_and_as_of_needs_a_child(cli, demo, tmp_path):
    out = tmp_path / "export"
    assert cli("export", "--out", str(out))[0] == 0
    status, said, _ = cli("verify", str(out), "--processes", "0", storage=False)
    assert status == 0 and said.startswith("verified "), said
    status, _, err = cli("export", "--out", str(tmp_path / "x"), "--as-of", "2026-01-01T00:00:00Z")
    assert status == 2 and "--child" in err


def test_an_unknown_child_is_one_line_and_writes_nothing(cli, demo, tmp_path):
    out = tmp_path / "none"
    status, _, err = cli("export", "--out", str(out), "--child", "9999999999")
    assert status != 0 and err.count("\n") == 1 and not out.exists(), err


# The inquiry endpoint -----------------------------------------------------------------------------


def _two_children(live) -> tuple[str, str]:
    agency = live.agency()
    mine, other = fresh_nhs_number(), fresh_nhs_number()
    with live.client(live.token("agency", agency=agency)) as client:
        for n, nhs in enumerate((mine, other, mine)):
            subject = {"nhs_number": nhs, "given_name": f"Fictional{n}", "family_name": f"Person{nhs}"}
            answer = client.post("/v1/records", json=live.envelope(concern(f"b-{nhs}-{n}", agency=agency,
                                                                           subject=subject)))  # fmt: skip
            assert answer.status_code in (200, 201), answer.text
    return mine, other


def test_the_endpoint_gives_inquiries_the_bundle_ledger_verify_checks(live, tmp_path, capsys):
    from api.cli import main

    mine, other = _two_children(live)
    with live.client(live.token("inquiry")) as client:
        answer = client.get("/v1/bundle", params={"nhs_number": mine})
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        bundle = answer.json()
        assert client.get("/v1/bundle", params={"nhs_number": fresh_nhs_number()}).status_code == 404
        assert client.get("/v1/bundle", params={"nhs_number": mine, "as_of": "yesterday"}).status_code == 400
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path)]) == 0
    said = capsys.readouterr().out
    assert f"verified the bundle of child {bundle['manifest']['child']['id']}: 3 entries" in said, said
    assert not mentions(answer.text, other) and other not in "".join(
        base64.b64decode(json.loads(base64.b64decode(e["entry"])).get("envelope", {}).get("payload", "")).decode()
        for e in bundle["entries"])  # fmt: skip
    last = json.loads(base64.b64decode(bundle["entries"][-1]["entry"]))
    assert (last["kind"], last["read"], last["role"], last["query"]) == ("access", "export", "inquiry",
                                                                        {"nhs_number": mine})  # fmt: skip


@pytest.mark.parametrize("role", ["agency", "practitioner", "admin"])
def test_no_other_role_may_have_a_bundle(live, role):
    mine, _ = _two_children(live)
    size = live.stored_events()
    token = live.token(role, agency=live.agency() if role == "agency" else None,
                       local_authority="309" if role == "practitioner" else None)  # fmt: skip
    size = live.stored_events()
    with live.client(token) as client:
        answer = client.get("/v1/bundle", params={"nhs_number": mine})
    assert answer.status_code == 403 and answer.json()["type"].endswith("forbidden"), answer.text
    assert live.stored_events() == size  # turned away before anything was looked up or logged
