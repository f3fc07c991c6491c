"""Schemathesis hooks for the ledger's OpenAPI document (loaded by ``st run`` through
SCHEMATHESIS_HOOKS, see tests/e2e/test_api_schemathesis.py).

The document names formats for what a JSON Schema pattern cannot say (api/deps.py: text hygiene,
check digits, Ed25519 keys, times); these strategies generate exactly what the ledger's own rules
accept, drawn from those rules (domain/text.py, domain/identifiers.py), so a "valid" request is
valid. A record is valid only when its agency signed it, which no schema can say: positive cases for
the record endpoints are signed by the fictional agency the test registered (its id and key come in
LEDGER_FUZZ_AGENCY and LEDGER_FUZZ_AGENCY_KEY, hex of a throwaway test key). Likewise a valid
cosignature is a registered witness's signature over the checkpoint the ledger serves now: positive
cases for that endpoint fetch it (LEDGER_FUZZ_URL, LEDGER_FUZZ_TOKEN) and cosign it as the witness
named in LEDGER_FUZZ_WITNESS with the key in LEDGER_FUZZ_WITNESS_KEY.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime, timezone

import time

import httpx
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from hypothesis import strategies as st
from schemathesis import GenerationMode
from stdnum.gb import upn as stdnum_upn

from domain import envelope as dsse
from domain.checkpoint import split_note
from domain.cosignature import cosign, with_cosignatures
from domain.errors import LedgerError
from domain.keystatements import sign_statement
from domain.identifiers import check_nhs_number
from domain.text import text_fault


def _nhs_number(digits: str) -> str | None:
    check = (11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1))) % 11) % 11
    candidate = digits + str(check) if check != 10 else None
    try:
        return None if candidate is None else check_nhs_number(candidate)
    except LedgerError:
        return None


def _repaired_nhs_number(value: str) -> str:
    """The nearest number with a valid check digit (the tenth digit is the check's)."""
    for last in range(10):
        found = _nhs_number(value[:8] + str((int(value[8]) + last) % 10))
        if found:
            return found
    raise AssertionError("some ninth digit gives a valid NHS number")


def _repaired_upn(value: str) -> str:
    council = value[1:4] if value[1:4] in COUNCILS else COUNCILS[0]
    last = value[-1] if value[-1] in UPN_LAST else "A"
    return _upn(council + value[4:12] + last)


def _repaired_past_date(value: str) -> str:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return "2020-02-29"
    return value if date(1900, 1, 1) <= day <= date.today() else "2020-02-29"


# What the coverage phase sends as valid follows a parameter's pattern but not its format (a check
# digit, a real past day): positive cases get the nearest value the format allows.
REPAIRS = {
    "nhs_number": lambda v: _repaired_nhs_number(v) if re.fullmatch(r"[0-9]{10}", v) else v,
    "upn": lambda v: _repaired_upn(v) if re.fullmatch(r"[A-Z][0-9]{11}[0-9A-Z]", v) else v,
    "date_of_birth": _repaired_past_date,
}


def _repair(value: object) -> object:
    if isinstance(value, dict):
        return {k: REPAIRS[k](v) if k in REPAIRS and isinstance(v, str) else _repair(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_repair(v) for v in value]
    return value


def _pem(seed: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


schemathesis.openapi.format(
    "free-text",
    st.text(min_size=1, max_size=300).filter(lambda s: s.strip() != "" and text_fault(s) is None),
)
schemathesis.openapi.format(
    "printable-text", st.text(min_size=1, max_size=120).filter(lambda s: s.strip() != "" and s.isprintable())
)
schemathesis.openapi.format(
    "nhs-number", st.text("0123456789", min_size=9, max_size=9).map(_nhs_number).filter(bool)
)
def _upn(body: str) -> str:
    """A UPN of 12 characters after the check letter (a council number, 8 digits, one more)."""
    return stdnum_upn.calc_check_digit(body) + body


# A UPN's digits 2-4 are a council's number and its last character is from a set alphabet.
UPN_LAST = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"
COUNCILS = [f"{n:03d}" for n in range(1000) if stdnum_upn.is_valid(_upn(f"{n:03d}00000000A"))]
schemathesis.openapi.format(
    "upn",
    st.builds(lambda la, digits, last: _upn(la + digits + last), st.sampled_from(COUNCILS),
              st.text("0123456789", min_size=8, max_size=8), st.sampled_from(UPN_LAST)),
)
schemathesis.openapi.format(
    "past-date", st.dates(date(1900, 1, 1), date.today()).map(date.isoformat)
)
schemathesis.openapi.format("ed25519-public-key-pem", st.binary(min_size=32, max_size=32).map(_pem))
schemathesis.openapi.format(
    "future-date-or-time",
    st.dates(date(2030, 1, 1), date(2099, 12, 31)).map(date.isoformat)
    | st.datetimes(datetime(2030, 1, 1), datetime(2099, 12, 31), timezones=st.just(timezone.utc)).map(
        lambda t: t.isoformat()
    ),
)
schemathesis.openapi.format(
    "utc-date-time",
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(timezone.utc)).map(
        lambda t: t.isoformat()
    ),
)

KEYS_PATH = "/v1/admin/agencies/{agency_id}/keys"
RECORD_PATHS = {"/v1/records": "one", "/v1/records/batch": "batch"}
_serial = iter(range(10**9))


def _signed_record() -> dict:
    agency = os.environ["LEDGER_FUZZ_AGENCY"]
    key = _key("LEDGER_FUZZ_AGENCY_KEY")
    payload = {
        "agency": agency,
        "record_id": f"fuzz-{os.getpid()}-{next(_serial)}",
        "type": "concern",
        "subject": {"nhs_number": "9434765919", "given_name": "Fictional", "family_name": "Fuzz"},
        "occurred_at": "2026-03-01T09:30:00+00:00",
        "category": "neglect",
        "summary": "Fictional: a record made by the API fuzz test.",
        "local_authority": "309",
    }
    return dsse.sign(json.dumps(payload).encode(), key)


def _key(variable: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(os.environ[variable]))


def _cosigned_checkpoint() -> str:
    note = _call("GET", "/v1/log/checkpoint").text
    text, _ = split_note(note)
    line = cosign(text, os.environ["LEDGER_FUZZ_WITNESS"], _key("LEDGER_FUZZ_WITNESS_KEY"), int(time.time()))
    return with_cosignatures(note, [line])


@schemathesis.hook("map_case")
def sign_valid_bodies(context, case):
    """A positive case carries what validity means beyond any schema: an agency's signature on a
    record or on a key statement, a registered witness's cosignature on the ledger's checkpoint."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return case
    if case.query:
        case.query = _repair(case.query)
    if isinstance(case.body, (dict, list)):
        case.body = _repair(case.body)
    kind = RECORD_PATHS.get(case.operation.path)
    if kind == "one":
        case.body = _signed_record()
    elif kind == "batch":
        case.body = {"envelopes": [_signed_record(), _signed_record()]}
    elif case.operation.path == "/v1/log/cosignatures":
        case.body = _cosigned_checkpoint()
    elif case.operation.path == KEYS_PATH and isinstance(case.body, dict) and case.body.get("statement") is not None:
        agency, current = _agency_for(case.body["public_key"])
        new_key = load_pem_public_key(case.body["public_key"].encode())
        case.path_parameters = {**(case.path_parameters or {}), "agency_id": agency}
        case.body["statement"] = sign_statement(agency, new_key, current)
    return case


def _agency_for(new_key_pem: str) -> tuple[str, Ed25519PrivateKey]:
    """An agency of its own for each new key, registered on first use, and its current key: the
    run's other cases may revoke any key they can name, so no statement leans on a shared agency;
    and a case mapped twice still names one agency in its path and its statement."""
    if new_key_pem not in _AGENCIES:
        key = Ed25519PrivateKey.generate()
        agency = f"fuzz-keys-{os.getpid()}-{next(_serial)}"
        pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        _call("POST", "/v1/admin/agencies",
              json={"id": agency, "kind": "health", "name": f"Fictional {agency}", "serves": ["309"], "public_key": pem})
        _AGENCIES[new_key_pem] = agency, key
    return _AGENCIES[new_key_pem]


_AGENCIES: dict[str, tuple[str, Ed25519PrivateKey]] = {}


def _call(method: str, path: str, **kwargs) -> httpx.Response:
    """A request of the test's own (not a generated case) with the run's token."""
    response = httpx.request(method, f"{os.environ['LEDGER_FUZZ_URL']}{path}", timeout=30,
                             headers={"Authorization": f"Bearer {os.environ['LEDGER_FUZZ_TOKEN']}"}, **kwargs)
    response.raise_for_status()
    return response
