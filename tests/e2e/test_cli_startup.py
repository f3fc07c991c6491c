"""``ledger`` starts without the web stack, names its version, and says what each subcommand does.

Which modules a command loads is checked in a fresh interpreter (this one has FastAPI loaded by
other tests): ``ledger --help`` and the token commands must not import FastAPI, Starlette, uvicorn
or Jinja2, which cost most of a second before a single line was printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from api.cli import build_parser, main

WEB = ("fastapi", "starlette", "uvicorn", "jinja2")
ROOT = Path(__file__).resolve().parents[2]
# Runs ``ledger ARGS...`` in-process, then prints (last) which web modules were loaded.
DRIVER = f"""
import json, sys
from api.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as leaving:
    status = leaving.code
print(json.dumps({{"status": status, "web": sorted(m for m in {WEB!r} if m in sys.modules)}}))
"""


def fresh_interpreter(code: str, *args: str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_cli_and_the_composition_root_loads_no_web_module(tmp_path):
    code = (
        "import json, sys\n"
        "import api.cli, api.bootstrap, api.tokens, api.settings, api.opening\n"
        f"print(json.dumps({{'status': 0, 'web': sorted(m for m in {WEB!r} if m in sys.modules)}}))\n"
    )
    assert fresh_interpreter(code, cwd=tmp_path) == {"status": 0, "web": []}


def test_help_loads_no_web_module_and_not_the_storage_stack(tmp_path):
    code = DRIVER.replace("print(json.dumps({", "print(json.dumps({'heavy': sorted(m for m in ('sqlalchemy', "
                          "'eventsourcing', 'cryptography') if m in sys.modules), ")  # fmt: skip
    result = fresh_interpreter(code, "--help", cwd=tmp_path)
    assert result == {"heavy": [], "status": 0, "web": []}


def test_the_token_commands_load_no_web_module(database_url, tmp_path):
    options = ["--database-url", database_url, "--checkpoint-key", str(tmp_path / "checkpoint.key")]
    issued = fresh_interpreter(DRIVER, "token", "issue", "--role", "admin", "--holder", "Jo Admin", *options, cwd=tmp_path)
    listed = fresh_interpreter(DRIVER, "token", "list", *options, cwd=tmp_path)
    assert issued == listed == {"status": 0, "web": []}


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as leaving:
        main(["--version"])
    assert leaving.value.code == 0
    assert capsys.readouterr().out == f"ledger {version('safeguarding-ledger')}\n"


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (path, parser, help line) below ``parser``, groups and leaves alike."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield path + (name,), child, helps.get(name)
                yield from subcommands(child, path + (name,))


def test_every_subcommand_has_one_line_of_help_and_a_description():
    found = list(subcommands(build_parser()))
    assert {" ".join(path) for path, _, _ in found} >= {"init", "serve", "token issue", "token list", "verify", "demo"}
    for path, parser, about in found:
        assert about and "\n" not in about, f"ledger {' '.join(path)} needs one line of help"
        assert parser.description and "\n" not in parser.description, f"ledger {' '.join(path)} needs a description"
        assert " ".join(parser.description.split()) in " ".join(parser.format_help().split())


def test_every_subcommand_names_a_function_that_exists():
    for path, parser, _ in subcommands(build_parser()):
        func = parser.get_default("func")
        if func is None:
            continue  # a group such as "token": its subcommands carry the functions
        module, name = func.split(":")
        assert callable(getattr(importlib.import_module(module), name)), f"ledger {' '.join(path)}: {func}"
