"""Tampering with the stored log, on both backends, is caught by ``ledger verify --database-url`` and by
verifying an export made afterwards: exit status 1 and ``leaf N:`` naming the first bad leaf.

Each case edits the database behind the ledger's back with plain SQL, as an insider with database
access could: the event store's own table (``stored_events`` on SQLite, ``ledger_events`` in the
test's schema on PostgreSQL), the stored entries and leaves, or the signed checkpoints. An export
is made from the entries the ledger stored when it hashed them, so an edit of the event store
alone leaves it the genuine log (it verifies), while the live check names the leaf whose event no
longer gives its stored entry. tests/integration/test_tamper_served.py tampers with what the ledger serves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, Engine, text

from api.bootstrap import Services
from domain.checkpoint import Checkpoint, sign_checkpoint, vkey
from domain.entries import LEDGER_SIGNATURE, canonical_json, entry_bytes, ledger_signed, sign_entry
from domain.merkle import leaf_hash
from projections.database_url import is_postgres
from projections.db import make_engine
from tests import merkle_reference as ref
from tests.e2e.test_export_verify import Case, build_case, cli, db_args


class Store:
    """Raw access to the event store's table and the stored log, whichever backend holds them."""

    def __init__(self, engine: Engine, services: Services) -> None:
        postgres = engine.dialect.name == "postgresql"
        self.engine = engine
        self.services = services
        self.table = "ledger_events" if postgres else "stored_events"
        self.id = "notification_id" if postgres else "rowid"

    def notification(self, conn: Connection, leaf: int) -> int:
        query = text("SELECT notification_id FROM integrity_leaves WHERE leaf_index = :leaf")
        return conn.execute(query, {"leaf": leaf}).scalar_one()

    def state(self, leaf: int) -> bytes:
        with self.engine.begin() as conn:
            query = text(f"SELECT state FROM {self.table} WHERE {self.id} = :id")
            return bytes(conn.execute(query, {"id": self.notification(conn, leaf)}).scalar_one())

    def set_state(self, leaf: int, state: bytes) -> None:
        with self.engine.begin() as conn:
            query = text(f"UPDATE {self.table} SET state = :state WHERE {self.id} = :id")
            assert conn.execute(query, {"state": state, "id": self.notification(conn, leaf)}).rowcount == 1

    def delete(self, leaf: int) -> None:
        with self.engine.begin() as conn:
            query = text(f"DELETE FROM {self.table} WHERE {self.id} = :id")
            assert conn.execute(query, {"id": self.notification(conn, leaf)}).rowcount == 1

    def edit(self, leaf: int, change: Callable[[dict], None]) -> None:
        """Change the decoded stored state of one event and store it again."""
        state = json.loads(self.state(leaf))
        change(state)
        self.set_state(leaf, json.dumps(state, separators=(",", ":")).encode())

    def entry(self, leaf: int) -> bytes:
        with self.engine.begin() as conn:
            query = text("SELECT entry FROM integrity_leaves WHERE leaf_index = :leaf")
            return bytes(conn.execute(query, {"leaf": leaf}).scalar_one())

    def set_entry(self, leaf: int, entry: bytes) -> None:
        """Store other entry bytes for a leaf, with the leaf hash to match, as a careful insider would."""
        with self.engine.begin() as conn:
            query = text("UPDATE integrity_leaves SET entry = :entry, leaf_hash = :digest WHERE leaf_index = :leaf")
            assert conn.execute(query, {"entry": entry, "digest": leaf_hash(entry), "leaf": leaf}).rowcount == 1

    def rederive(self, leaf: int) -> None:
        """Store the entry the (edited) event of a leaf now gives, with its leaf hash."""
        with self.engine.begin() as conn:
            query = text(f"SELECT originator_id, originator_version, topic, state FROM {self.table} WHERE {self.id} = :id")
            row = conn.execute(query, {"id": self.notification(conn, leaf)}).one()
        stored = StoredEvent(row[0], row[1], row[2], bytes(row[3]))
        self.set_entry(leaf, entry_bytes(self.services.ledger.mapper.to_domain_event(stored)))

    def set_note(self, size: int, note: str) -> None:
        with self.engine.begin() as conn:
            query = text("UPDATE integrity_checkpoints SET note = :note WHERE size = :size")
            assert conn.execute(query, {"note": note, "size": size}).rowcount == 1

    def note(self, size: int) -> str:
        with self.engine.begin() as conn:
            query = text("SELECT note FROM integrity_checkpoints WHERE size = :size")
            return conn.execute(query, {"size": size}).scalar_one()

    def execute(self, sql: str, **params: object) -> int:
        """Run one statement; returns how many rows it changed."""
        with self.engine.begin() as conn:
            return conn.execute(text(sql), params).rowcount


RECORD = 6  # a police record signed with the first key; leaf 1 added that key, leaf 17 revoked it
MIDDLE_CHECKPOINT = 18  # checkpoints were signed at sizes 16, 18 and 42

#: What a tamper leaves for verification to find: the leaf ``ledger verify --database-url`` names,
#: and the one a bundle exported afterwards names (None: the bundle is the genuine log and verifies).
Found = tuple[int, int | None]


def flip_a_payload_byte(store: Store, case: Case) -> Found:
    state = bytearray(store.state(RECORD))
    position = state.index(b'"payload":"') + 20
    state[position] = ord("B") if state[position] != ord("B") else ord("C")
    store.set_state(RECORD, bytes(state))
    return RECORD, None


def flip_a_structural_byte(store: Store, case: Case) -> Found:
    state = bytearray(store.state(RECORD))
    state[0] ^= 0x01  # "{" becomes "z": the event no longer decodes
    store.set_state(RECORD, bytes(state))
    return RECORD, None


def delete_an_event(store: Store, case: Case) -> Found:
    store.delete(RECORD)
    return RECORD, None


def swap_two_events(store: Store, case: Case) -> Found:
    first, second = store.state(RECORD), store.state(RECORD + 3)
    store.set_state(RECORD, second)
    store.set_state(RECORD + 3, first)
    return RECORD, None


def truncate_the_end(store: Store, case: Case) -> Found:
    for leaf in range(case.size - 3, case.size):
        store.delete(leaf)
    return case.size - 3, None


def alter_a_checkpoint(store: Store, case: Case) -> Found:
    note = store.note(MIDDLE_CHECKPOINT)
    origin, size, root, rest = note.split("\n", 3)
    altered_root = base64.b64encode(bytes(32)).decode()
    store.set_note(MIDDLE_CHECKPOINT, "\n".join([origin, size, altered_root, rest]))
    return MIDDLE_CHECKPOINT - 1, MIDDLE_CHECKPOINT - 1


def forge_a_checkpoint(store: Store, case: Case) -> Found:
    origin = store.note(MIDDLE_CHECKPOINT).split("\n", 1)[0]
    forged = sign_checkpoint(Checkpoint(origin, MIDDLE_CHECKPOINT, bytes(32)), origin, Ed25519PrivateKey.generate())
    store.set_note(MIDDLE_CHECKPOINT, forged)
    return MIDDLE_CHECKPOINT - 1, MIDDLE_CHECKPOINT - 1


def replace_an_agency_key(store: Store, case: Case) -> Found:
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()

    def change(state: dict) -> None:
        state["public_key"]["_data_"] = base64.b64encode(other).decode()

    store.edit(case.revoked_key_added_at, change)
    return case.revoked_key_added_at, None


def replace_a_key_and_its_stored_entry(store: Store, case: Case) -> Found:
    replace_an_agency_key(store, case)
    store.rederive(case.revoked_key_added_at)
    return case.revoked_key_added_at, case.revoked_key_added_at  # its key id and ledger signature fail


def rename_an_agency_and_its_stored_entry(store: Store, case: Case) -> Found:
    def change(state: dict) -> None:
        state["name"] = "Southshire Police (fictional)"

    store.edit(2, change)  # the health agency's registration, and its stored entry and leaf hash to match
    store.rederive(2)
    return 2, 2  # the ledger's signature no longer covers it


def rewrite_an_entry_with_the_ledger_key(store: Store, case: Case) -> Found:
    """An insider who holds the ledger's key too re-signs a rewritten entry and rebuilds the stored
    tree: no entry rule breaks, and only the first checkpoint (size 16) shows it."""
    data = json.loads(store.entry(2))
    del data[LEDGER_SIGNATURE]
    data["name"] = "Southshire Police (fictional)"
    data[LEDGER_SIGNATURE] = sign_entry(canonical_json(data), store.services.signer.private_key)

    def change(state: dict) -> None:
        state["name"], state[LEDGER_SIGNATURE] = data["name"], data[LEDGER_SIGNATURE]

    store.edit(2, change)
    store.services.runner.rebuild("integrity")
    assert store.entry(2) == canonical_json(data)
    return 15, 15


TAMPERS = [
    flip_a_payload_byte,
    flip_a_structural_byte,
    delete_an_event,
    swap_two_events,
    truncate_the_end,
    alter_a_checkpoint,
    forge_a_checkpoint,
    replace_an_agency_key,
    replace_a_key_and_its_stored_entry,
    rename_an_agency_and_its_stored_entry,
    rewrite_an_entry_with_the_ledger_key,
]


@pytest.fixture
def store(services: Services) -> Iterator[Store]:
    engine = make_engine(services.settings.database_url)
    assert (engine.dialect.name == "postgresql") == is_postgres(services.settings.database_url)
    try:
        yield Store(engine, services)
    finally:
        engine.dispose()


def expect_failure(capsys, args: list, leaf: int) -> None:
    assert cli(*args) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"leaf {leaf}: "), out


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__ for t in TAMPERS])
def test_tampering_is_caught_live_and_in_an_export(services, agency_key, store, tmp_path, capsys, tamper) -> None:
    case = build_case(services, agency_key, records=12)
    assert cli("verify", *db_args(services), "--processes", "0") == 0
    live, bundle = tamper(store, case)
    capsys.readouterr()
    expect_failure(capsys, ["verify", *db_args(services), "--processes", "0"], live)
    exported = cli("export", "--out", tmp_path / "bundle", *db_args(services))
    if exported == 3:  # the ledger will not serve, nor log a look at, a log its own checkpoint no longer signs
        assert "rewritten" in capsys.readouterr().err and tamper.__name__ == "rewrite_an_entry_with_the_ledger_key"
        return
    assert exported == 0
    capsys.readouterr()
    if bundle is None:  # the event store alone was edited: the export holds the entries as hashed
        assert cli("verify", tmp_path / "bundle", "--processes", "0") == 0
        exported = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["size"]
        assert exported >= case.size  # the export logs itself: its own access entry is in it
        assert f"verified {exported} entries" in capsys.readouterr().out
    else:
        expect_failure(capsys, ["verify", tmp_path / "bundle", "--processes", "0"], bundle)


def test_a_bundle_forged_with_another_key_needs_a_vkey_held_elsewhere(services, agency_key, tmp_path, capsys) -> None:
    """An exporter who re-signs every entry the ledger signed and every checkpoint with a key of
    their own can ship its log.vkey too: only the key the inquiry obtained independently
    (``--vkey``) exposes it, at the first entry the ledger signed."""
    build_case(services, agency_key, records=2)
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db_args(services)) == 0
    genuine = (out / "log.vkey").read_text().strip()
    forger = Ed25519PrivateKey.generate()
    entries, lines = [], [json.loads(line) for line in (out / "entries.jsonl").read_text().splitlines()]
    with open(out / "entries.jsonl", "w") as handle:
        for line in lines:
            data = json.loads(base64.b64decode(line["entry"]))
            if ledger_signed(data["kind"]):
                del data[LEDGER_SIGNATURE]
                data[LEDGER_SIGNATURE] = sign_entry(canonical_json(data), forger)
            entries.append(canonical_json(data))
            line.update(entry=base64.b64encode(entries[-1]).decode(), leaf_hash=base64.b64encode(leaf_hash(entries[-1])).decode())
            handle.write(json.dumps(line) + "\n")
    lines = [json.loads(line) for line in (out / "checkpoints.jsonl").read_text().splitlines()]
    origin = lines[0]["note"].split("\n", 1)[0]
    with open(out / "checkpoints.jsonl", "w") as handle:
        for line in lines:
            note = sign_checkpoint(Checkpoint(origin, line["size"], ref.mth(entries[: line["size"]])), origin, forger)
            handle.write(json.dumps({"size": line["size"], "note": note}) + "\n")
    (out / "log.vkey").write_text(vkey(origin, forger.public_key()) + "\n")
    assert cli("verify", out, "--processes", "0") == 0
    capsys.readouterr()
    expect_failure(capsys, ["verify", out, "--vkey", genuine, "--processes", "0"], 0)


def test_an_edited_key_history_file_is_caught(services, agency_key, tmp_path, capsys) -> None:
    case = build_case(services, agency_key, records=2)
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db_args(services)) == 0
    lines = (out / "keys.jsonl").read_text().splitlines()
    edited = json.loads(lines[1])
    edited["public_key"] = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    lines[1] = json.dumps(edited)
    (out / "keys.jsonl").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    expect_failure(capsys, ["verify", out, "--processes", "0"], case.revoked_key_added_at)


def test_a_removed_bundle_line_is_caught(services, agency_key, tmp_path, capsys) -> None:
    build_case(services, agency_key, records=2)
    out = tmp_path / "bundle"
    assert cli("export", "--out", out, *db_args(services)) == 0
    lines = (out / "entries.jsonl").read_text().splitlines()
    del lines[5]
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    expect_failure(capsys, ["verify", out, "--processes", "0"], 5)
