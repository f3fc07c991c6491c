"""schemathesis, as an integrator would run it, against the served OpenAPI document on 127.0.0.1.

`st run --checks all` with every phase (the document's examples, coverage of each schema's edges,
fuzzing, stateful sequences through inferred links), once per role with that role's token over
the operations meant for it: no failure of any kind. What validity means beyond a schema (an
agency's signature, a witness's cosignature, a key statement) the hooks in
tests/schemathesis_hooks.py supply for positive cases. Bounded by a fixed example count and seed,
so it stays a test and not a soak (no --max-time: with it, fuzzing repeats until the time is spent).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from api.usecases.admin import COMMAND_LINE
from domain.cosignature import cosigner_vkey
from tests.api_live import live  # noqa: F401 - the fixture

EXAMPLES = os.environ.get("API_FUZZ_EXAMPLES", "10")
ROOT = Path(__file__).resolve().parents[2]
WITNESS = "witness.example/fuzz"

# Which role's token each operation is fuzzed with, in the order the runs go: agencies write first
# (so reads find a child), the administrator last (its runs revoke keys and change areas).
RUNS = {
    "agency": r"^/v1/(records|receipts|agency/)",
    "practitioner": r"^/v1/(chronology|risk|identity|notifications|children|sharing|schema)",
    "inquiry": r"^/v1/(log|access|bundle)",
    "admin": r"^/v1/admin",
}


def _raw(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()


@pytest.fixture(scope="module")
def fuzz_env(live) -> dict[str, str]:
    """A fictional agency and witness whose keys the hooks hold, and a token per role."""
    assert live.base_url.startswith("http://127.0.0.1:")
    agency = live.agency(serves=("309",))
    witness = Ed25519PrivateKey.generate()
    live.services.log.add_witness(COMMAND_LINE, cosigner_vkey(WITNESS, witness.public_key()))
    return {
        "LEDGER_FUZZ_URL": live.base_url,
        "LEDGER_FUZZ_AGENCY": agency,
        "LEDGER_FUZZ_AGENCY_KEY": _raw(live.keys[agency]),
        "LEDGER_FUZZ_WITNESS": WITNESS,
        "LEDGER_FUZZ_WITNESS_KEY": _raw(witness),
        "agency": live.token("agency", agency=agency),
        "practitioner": live.token("practitioner", local_authority="309"),
        "inquiry": live.token("inquiry"),
        "admin": live.token("admin"),
    }


def test_every_operation_is_fuzzed_by_one_role(live) -> None:
    paths = httpx.get(f"{live.base_url}/v1/openapi.json", timeout=30).json()["paths"]
    for path in paths:
        roles = [role for role, pattern in RUNS.items() if re.search(pattern, path)]
        assert len(roles) == 1, f"{path} is fuzzed by {roles or 'no role'}: name it in RUNS"


@pytest.mark.parametrize("role", list(RUNS))
def test_schemathesis_finds_no_failure(live, fuzz_env, role, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({k: v for k, v in fuzz_env.items() if k.startswith("LEDGER_FUZZ")})
    env.update(LEDGER_FUZZ_TOKEN=fuzz_env[role], SCHEMATHESIS_HOOKS="tests.schemathesis_hooks", PYTHONPATH=str(ROOT))
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{live.base_url}/v1/openapi.json",
        "--checks", "all", "--include-path-regex", RUNS[role], "-H", f"Authorization: Bearer {fuzz_env[role]}",
        "--max-examples", EXAMPLES, "--seed", "1", "--no-color",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    report = done.stdout[-12000:] + done.stderr[-4000:]
    assert done.returncode == 0, report
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert tested and int(tested.group(1)) > 0, report
