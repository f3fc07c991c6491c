"""Make the golden ledger: a small SQLite ledger with an entry of every kind, and its export.

    .venv/bin/python -m tests.data.make_golden --out tests/data/golden-N

The result is frozen (tests/data/golden): every later version of the ledger must verify it and
give its entries back byte for byte (tests/integration/test_golden.py). Never regenerate a committed set; when
entry kinds are added, make a new set beside it with this script extended to write them.

All data is fictional. Its first entries are written as the ledger wrote them before it signed its
entries (``written_before_ledger_signatures``), so the set holds unsigned version 1 entries too.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Mapper

from api.bootstrap import Services, bootstrap
from api.cli import main
from api.keyfiles import write_private_key
from api.settings import Settings
from api.tokens import Principal
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from domain.keystatements import sign_statement
from domain import envelope as dsse
from domain.access import log_access
from domain.decisions import prompt_id_for, record_decision
from domain.ledger import Ledger
from domain.links import link_identities, unlink_identities
from domain.sharing import record_sharing

CHILD = "5b0c7c43-1b44-4f7e-8a0e-3d8c2f1e9a01"
NHS, OTHER_NHS = "9434765919", "9434765870"


def fictional_key(name: str) -> Ed25519PrivateKey:
    """A fixed key per fictional agency, so a set made again signs alike."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"golden ledger {name}".encode()).digest())


@contextmanager
def written_before_ledger_signatures(ledger: Ledger) -> Iterator[None]:
    """Store events as eventsourcing's own mapper does, without the ledger's signature: the entries
    of a ledger from before it signed its entries."""
    ledger.mapper.to_stored_event = functools.partial(Mapper.to_stored_event, ledger.mapper)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del ledger.mapper.to_stored_event


def record(agency: str, record_id: str, key: Ed25519PrivateKey, **fields: object) -> dict:
    payload = {"agency": agency, "record_id": record_id, **fields}
    return dsse.sign(json.dumps(payload, ensure_ascii=False).encode(), key)


def concern(agency: str, record_id: str, key: Ed25519PrivateKey, **fields: object) -> dict:
    base = {"type": "concern", "subject": {"nhs_number": NHS, "given_name": "Ada", "family_name": "Example"},
            "occurred_at": "2026-03-01T09:30:00+00:00", "category": "neglect", "local_authority": "309",
            "summary": "Fictional: child seen alone at the bus stop at night, said “I’m waiting for Mum”."}  # fmt: skip
    return record(agency, record_id, key, **{**base, **fields})


def submit(services: Services, *envelopes: dict) -> None:
    for result in services.submit(list(envelopes)):
        assert isinstance(result, dict), result


def build_every_kind(services: Services, legacy: bool = True) -> None:
    """Append an entry of every kind the ledger writes (first a few unsigned ones, as before ledger
    signatures, when ``legacy``), catch the read models up and sign a checkpoint of it all."""
    ledger = services.ledger
    police, health, new_police = fictional_key("police"), fictional_key("health"), fictional_key("police 2")
    if legacy:
        with written_before_ledger_signatures(ledger):
            ledger.register_agency("northshire-police", "police", "Northshire Police (fictional)", police.public_key(),
                                   serves=["309", "310"], by="cli")
            submit(services, concern("northshire-police", "p-1", police))
            log_access(ledger, token_id="legacy-token", role="practitioner", child=CHILD, read="chronology",
                       query={"nhs_number": NHS}, local_authority="309")  # fmt: skip
    else:
        ledger.register_agency("northshire-police", "police", "Northshire Police (fictional)", police.public_key(),
                                   serves=["309", "310"], by="cli")
        submit(services, concern("northshire-police", "p-1", police))
    ledger.register_agency("northshire-health", "health", "Northshire Health (fictional)", health.public_key(),
                           serves=["309"], by="cli")
    submit(
        services,
        concern("northshire-health", "h-1", health, category="was_not_brought", occurred_at="2026-03-04",
                summary="Fictional: missed the second health visit."),
        record("northshire-police", "p-1a", police, type="amendment", amends="p-1",
               subject={"nhs_number": NHS, "given_name": "Ada", "family_name": "Example"},
               occurred_at="2026-03-01T09:30:00+00:00", category="neglect", local_authority="309",
               summary="Fictional: corrected time; child seen alone at the bus stop."),
        record("northshire-health", "h-link", health, type="identity_link",
               same_child=[{"nhs_number": NHS}, {"local_id": "HV-0042"}]),
    )  # fmt: skip
    ledger.add_key("northshire-police", new_police.public_key(), by="cli",
                   statement=sign_statement("northshire-police", new_police.public_key(), police))
    ledger.revoke_key("northshire-police", dsse.key_id(police.public_key()), "rotated (fictional)", by="cli")
    submit(services, record("northshire-police", "p-1r", new_police, type="retraction", amends="p-1a",
                            summary="Fictional: entered against the wrong child."))  # fmt: skip
    log_access(ledger, token_id="token-1", role="practitioner", child=CHILD, read="chronology",
               query={"nhs_number": NHS}, local_authority="309")  # fmt: skip
    log_access(ledger, token_id="token-2", role="practitioner", child=CHILD, read="risk", query={"nhs_number": NHS},
               local_authority="310", break_glass=True, reason="Fictional: out-of-hours referral from A&E.")  # fmt: skip
    records = [("northshire-health", "h-1"), ("northshire-police", "p-1a")]
    record_decision(ledger, prompt_id=prompt_id_for("multi_agency_concerns", 1, records), child_id=CHILD,
                    rule="multi_agency_concerns", rule_version=1,
                    records=[{"agency": a, "record_id": r} for a, r in records], decision="escalated",
                    reason="Fictional: strategy discussion booked.", by="A. Practitioner (fictional)")  # fmt: skip
    link = link_identities(ledger, [{"nhs_number": NHS}, {"nhs_number": OTHER_NHS}],
                           by="A. Practitioner (fictional)", reason="Fictional: same child, two NHS numbers.")  # fmt: skip
    unlink_identities(ledger, link_id=link.link_id, by="A. Practitioner (fictional)",
                      reason="Fictional: the numbers belong to twins.")  # fmt: skip
    unlink_identities(ledger, agency="northshire-health", record_id="h-link", by="A. Practitioner (fictional)",
                      reason="Fictional: the local reference was another child's.")  # fmt: skip
    build_sharing_kinds(services, health)
    build_later_kinds(services)
    services.runner.catch_up()
    services.checkpoint()


def build_sharing_kinds(services: Services, health: Ed25519PrivateKey) -> None:
    """What issue 14 added: a restricted record, an agency's sharing decision, a practitioner opening
    the restricted record by breaking glass, and a practitioner's sharing decision."""
    submit(
        services,
        concern("northshire-health", "h-2", health, restricted=True, category="sexual_harm",
                summary="Fictional: restricted sexual health clinic note."),
        record("northshire-health", "h-share", health, type="sharing_decision",
               subject={"nhs_number": NHS}, occurred_at="2026-03-05", decision="not_shared",
               reason="Fictional: the parent is the alleged harmer; sharing would put the child at risk."),
    )  # fmt: skip
    log_access(services.ledger, token_id="fedcba9876543210", role="practitioner", child=CHILD,
               read="restricted_record", query={"child": CHILD, "agency": "northshire-health", "record_id": "h-2"},
               holder="Sam Example (fictional)", local_authority="309", break_glass=True,
               reason="Fictional: strategy meeting needs the clinic's note.")  # fmt: skip
    sam = Principal(token_id="fedcba9876543210", role="practitioner", local_authority="309",
                    holder="Sam Example (fictional)")  # fmt: skip
    record_sharing(services.ledger, child_id=CHILD, decision="shared", recipient="Northshire school DSL (fictional)",
                   reason="Fictional: to plan support at school.", by=sam.actor())  # fmt: skip


def build_later_kinds(services: Services) -> None:
    """The kinds SPEC 6.1-6.5 added, through the use cases as a deployment writes them: named looks
    and acts, token entries, areas changed, a key added by override, a checkpoint key rotation."""
    admin = Principal(token_id="0123456789abcdef", role="admin", holder="Jo Admin (fictional)")
    sam = Principal(token_id="fedcba9876543210", role="practitioner", local_authority="309",
                    holder="Sam Example (fictional)")  # fmt: skip
    log_access(services.ledger, token_id=sam.token_id, role=sam.role, child=CHILD, read="chronology",
               query={"nhs_number": NHS}, holder=sam.holder, local_authority="309")  # fmt: skip
    log_access(services.ledger, token_id=sam.token_id, role=sam.role, child=None, read="chronology",
               query={"nhs_number": OTHER_NHS}, holder=sam.holder, local_authority="309", outcome="not_found")  # fmt: skip
    link_identities(services.ledger, [{"nhs_number": NHS}, {"local_id": "HV-0042", "agency": "northshire-health"}],
                    by=sam.actor(),
                    reason="Fictional: the school's pupil is this child.")  # fmt: skip
    _, issued = services.admin.issue_token(admin, "inquiry", holder="Review Panel (fictional)", expires="2099-12-31")
    services.admin.revoke_token(admin, issued.token_id)
    services.admin.change_areas(admin, "northshire-health", ["309", "310"])
    services.admin.add_key(admin, "northshire-health", fictional_pem("health 2"), override="Fictional: keys lost.")
    services.log.rotate_key(admin, fictional_key("checkpoint 2"))
    Path(services.settings.checkpoint_key).unlink()  # the key now in force replaces it for the export
    write_private_key(Path(services.settings.checkpoint_key), fictional_key("checkpoint 2"))


def fictional_pem(name: str) -> bytes:
    return fictional_key(name).public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def make(out: Path) -> None:
    """Write ``out/ledger.db`` (one SQLite file, no write-ahead log beside it) and ``out/export``."""
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        key = str(Path(scratch) / "checkpoint.key")
        settings = Settings(database_url=f"sqlite:///{out / 'ledger.db'}", checkpoint_key=key)
        services = bootstrap(settings)
        try:
            build_every_kind(services)
        finally:
            services.close()
        db = ["--database-url", settings.database_url, "--checkpoint-key", key]
        assert main(["export", "--out", str(out / "export"), *db]) == 0
        assert main(["verify", str(out / "export"), "--processes", "0"]) == 0
    with sqlite3.connect(out / "ledger.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    for leftover in ("ledger.db-wal", "ledger.db-shm"):
        (out / leftover).unlink(missing_ok=True)


def _main() -> None:
    parser = argparse.ArgumentParser(description="Make a new golden ledger set (never overwrite one).")
    parser.add_argument("--out", required=True, type=Path, help="a new directory, e.g. tests/data/golden-2")
    make(parser.parse_args().out)


if __name__ == "__main__":
    _main()
