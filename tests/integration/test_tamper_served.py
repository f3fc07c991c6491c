"""Tampering with what the ledger serves, on both backends (issue 12.6, SPEC 6.5): its stored Merkle
nodes, its read models, the end of its log, and its ledger-signed entries. Each is named by
``ledger verify --database-url`` (exit status 1): the first bad leaf, or the read model, table and
row that differ from a rebuild from the log; and the ledger itself refuses to open, or to sign a
checkpoint for, a log that does not extend its own latest signed checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Mapper

from api import problems
from api.bootstrap import Services, bootstrap
from api.cli import main
from domain.access import Access, log_access
from domain.checkpoint import LogInconsistent, verify_checkpoint
from domain.errors import ProofError, ReadModelStalled
from domain.ledger import EntrySigningMapper
from domain.merkle import verify_inclusion
from projections.checkpoints import inclusion_proof, latest_checkpoint
from tests.e2e.test_export_verify import Case, build_case, db_args
from tests.integration.test_tamper import Store, store  # noqa: F401 - the fixture

CHILD = "2f6a1a0e-7a55-4c8e-9d0e-0d6c1b3f0a11"


def verify(capsys, services: Services, *extra: object) -> tuple[int, str]:
    capsys.readouterr()
    status = main([str(a) for a in ["verify", *db_args(services), "--processes", "0", *extra]])
    return status, capsys.readouterr().out


def with_reads(services: Services, agency_key: Ed25519PrivateKey, reads: int = 3) -> Case:
    """``build_case``, then practitioners' reads of a child (access entries, leaves 42 on)."""
    case = build_case(services, agency_key, records=12)
    for number in range(reads):
        log_access(services.ledger, token_id=f"token-{number}", role="practitioner", child=CHILD, read="chronology",
                   query={"nhs_number": "9434765919"}, local_authority="309")  # fmt: skip
    services.runner.catch_up()
    return replace(case, size=case.size + reads)


def test_a_corrupted_interior_node_fails_a_proof_and_verify_names_where_it_completes(
    services, agency_key, store, capsys
) -> None:
    case = build_case(services, agency_key, records=12)
    assert verify(capsys, services)[0] == 0
    assert store.execute("UPDATE integrity_subtrees SET hash = :h WHERE level = 1 AND idx = 4", h=bytes(32)) == 1
    with services.engine.connect() as conn:
        signed = verify_checkpoint(latest_checkpoint(conn).note, services.signer.verifier)
        proof = inclusion_proof(conn, 10, case.size)
    with pytest.raises(ProofError):  # the node joining leaves 8 and 9 is on leaf 10's audit path
        verify_inclusion(proof.leaf_hash, 10, case.size, proof.proof, signed.root)
    status, out = verify(capsys, services)
    assert status == 1
    assert out.startswith("leaf 9: the stored Merkle node at level 1, index 4 (leaves 8 to 9) is not the one"), out


def test_a_corrupted_tail_of_the_stored_tree_gets_no_checkpoint(services, agency_key, store, capsys) -> None:
    """The newest stored node, beyond the latest checkpoint, is altered: the tree the ledger would
    sign next is not the one its entries give, so it signs nothing (503) and verify names it."""
    case = build_case(services, agency_key, records=12)
    services.ledger.register_agency("southshire-police", "police", "Southshire Police (fictional)",
                                    Ed25519PrivateKey.generate().public_key(), serves=["309"], by="cli")  # fmt: skip
    services.runner.catch_up()  # leaves 42 and 43: the node (level 1, index 21) joins them
    with services.engine.connect() as conn:
        assert latest_checkpoint(conn).size == case.size
    assert store.execute("UPDATE integrity_subtrees SET hash = :h WHERE level = 1 AND idx = 21", h=bytes(32)) == 1
    with pytest.raises(LogInconsistent, match="leaf 43: the stored Merkle node at level 1, index 21") as refused:
        services.checkpoint()
    assert problems.from_ledger_error(refused.value)["status"] == 503
    services.signer.every = 1  # the next batch is due for a checkpoint as it is integrated
    services.ledger.register_agency("eastshire-police", "police", "Eastshire Police (fictional)",
                                    Ed25519PrivateKey.generate().public_key(), serves=["309"], by="cli")  # fmt: skip
    with pytest.raises(ReadModelStalled, match="read model integrity .*LogInconsistent"):
        services.runner.catch_up()  # so no receipt is issued on a tree the ledger would not sign
    status, out = verify(capsys, services)
    assert (status, out.split(":")[0]) == (1, "leaf 43"), out


CHRONOLOGY_EDITS = {
    "summary": "UPDATE chronology_entries SET summary = 'Fictional: nothing to see.' WHERE leaf_index = 6",
    "category": "UPDATE chronology_entries SET category = 'routine_contact' WHERE leaf_index = 6",
    "council": "UPDATE chronology_entries SET local_authority = '310' WHERE leaf_index = 6",
}


@pytest.mark.parametrize("column", sorted(CHRONOLOGY_EDITS))
def test_an_edited_chronology_row_is_named(services, agency_key, store, capsys, column) -> None:
    build_case(services, agency_key, records=12)
    with services.engine.connect() as conn:
        expected = store.notification(conn, 6)
    assert store.execute(CHRONOLOGY_EDITS[column]) == 1
    status, out = verify(capsys, services)
    stored_column = "local_authority" if column == "council" else column
    assert status == 1
    assert out == (
        f"read model chronology, table chronology_entries, row notification_id={expected}: "
        f"{stored_column} differ from a rebuild from the log\n"
    )


def test_a_deleted_chronology_row_is_named(services, agency_key, store, capsys) -> None:
    build_case(services, agency_key, records=12)
    with services.engine.connect() as conn:
        expected = store.notification(conn, 7)
    assert store.execute("DELETE FROM chronology_entries WHERE leaf_index = 7") == 1
    status, out = verify(capsys, services)
    assert status == 1
    assert out.startswith(f"read model chronology, table chronology_entries, row notification_id={expected}: is missing")


def test_deleted_access_rows_are_named(services, agency_key, store, capsys) -> None:
    case = with_reads(services, agency_key)
    assert verify(capsys, services)[0] == 0
    with services.engine.connect() as conn:
        first = store.notification(conn, case.size - 2)
    assert store.execute("DELETE FROM access_reads WHERE notification_id >= :n", n=first) == 2
    status, out = verify(capsys, services)
    assert status == 1
    assert out.startswith(f"read model access, table access_reads, row notification_id={first}: is missing"), out


def test_an_added_access_row_is_named(services, agency_key, store, capsys) -> None:
    case = with_reads(services, agency_key, reads=1)
    with services.engine.connect() as conn:
        last = store.notification(conn, case.size - 1)
    copied = store.execute(
        "INSERT INTO access_reads (notification_id, access_id, at, token_id, role, agency, local_authority, child, "
        "read, query, as_of, break_glass, reason, holder, outcome) SELECT notification_id + 1000, access_id, at, "
        "'someone-else', role, agency, local_authority, child, read, query, as_of, break_glass, reason, holder, "
        "outcome FROM access_reads "
        "WHERE notification_id = :n", n=last)  # fmt: skip
    assert copied == 1
    status, out = verify(capsys, services)
    assert (status, out) == (
        1, f"read model access, table access_reads, row notification_id={last + 1000}: is not in a rebuild from the log "
        "(added or altered)\n",
    )  # fmt: skip


def test_a_row_with_a_text_key_is_named_without_its_key(services, agency_key, store, capsys) -> None:
    """An identity key holds a child's identifier: verify names the row by its place, never by it."""
    build_case(services, agency_key, records=12)
    assert store.execute("DELETE FROM identity_keys WHERE key LIKE '%9434765919%'") == 1
    status, out = verify(capsys, services)
    assert status == 1 and out.startswith("read model identity, table identity_keys, row 1 in key order: is missing")
    assert "9434765919" not in out


@pytest.fixture
def held(services, agency_key, tmp_path) -> Iterator[tuple[Case, str]]:
    """A case and a copy of its latest checkpoint kept outside the ledger, as an inquiry would."""
    case = build_case(services, agency_key, records=12)
    path = tmp_path / "held-checkpoint"
    path.write_text(services.checkpoint().note)
    yield case, str(path)


def cut_short(store: Store, services: Services, case: Case, count: int) -> None:
    """Delete the newest ``count`` events and run ``ledger rebuild``, as an insider covering tracks."""
    for leaf in range(case.size - count, case.size):
        store.delete(leaf)
    assert main(["rebuild", *db_args(services)]) == 0


def test_newest_events_deleted_and_rebuilt_are_caught(services, store, held, capsys) -> None:
    case, kept = held
    cut_short(store, services, case, 3)
    status, out = verify(capsys, services)
    assert (status, out) == (1, f"leaf 39: the log ends after 39 entries, but a checkpoint of size {case.size} covers more\n")
    with pytest.raises(LogInconsistent, match=f"holds 39 entries, fewer than the {case.size}"):
        bootstrap(services.settings)
    capsys.readouterr()
    assert main(["init", *db_args(services)]) == 3  # every command that would write, `ledger serve` first
    err = capsys.readouterr().err
    assert err.startswith("ledger: the log holds 39 entries") and err.count("\n") == 1, err
    # The insider deletes the ledger's own checkpoints too: a checkpoint held elsewhere still tells.
    assert store.execute("DELETE FROM integrity_checkpoints") == 3
    assert verify(capsys, services)[0] == 0, "the log is consistent with itself now"
    status, out = verify(capsys, services, "--checkpoint", kept)
    assert status == 1 and out.startswith(f"leaf 39: the log ends after 39 entries, but a checkpoint of size {case.size}")


def test_a_fork_appended_after_the_cut_is_caught(services, agency_key, store, held, capsys) -> None:
    case, kept = held
    cut_short(store, services, case, 3)
    for number in range(5):  # the running ledger goes on appending: leaves 39 to 43, a fork
        log_access(services.ledger, token_id=f"fork-{number}", role="inquiry", child=CHILD, read="risk", query={})
    services.runner.catch_up()
    with pytest.raises(LogInconsistent, match=f"first {case.size} entries no longer give the root"):
        services.checkpoint()
    with pytest.raises(LogInconsistent, match="no longer give the root"):
        bootstrap(services.settings)
    status, out = verify(capsys, services)
    assert status == 1 and out.startswith(f"leaf {case.size - 1}: checkpoint of size {case.size} signs another root")
    assert store.execute("DELETE FROM integrity_checkpoints") == 3
    status, out = verify(capsys, services, "--checkpoint", kept)
    assert status == 1 and out.startswith(f"leaf {case.size - 1}: checkpoint of size {case.size} signs another root")


def forged_access(services: Services, key: Ed25519PrivateKey | None) -> None:
    """Insert an access entry straight into the event store, signed with ``key`` (None: unsigned)."""
    access = Access(token_id="token-x", role="practitioner", agency=None, local_authority="309", child=CHILD,
                    read="chronology", query={"nhs_number": "9434765919"}, as_of=None, break_glass=False,
                    reason=None)  # fmt: skip
    (event,) = access.collect_events()
    mapper = services.ledger.mapper
    if key is None:
        stored = Mapper.to_stored_event(mapper, event)  # eventsourcing's own mapping: no signature
    else:
        forger = EntrySigningMapper(transcoder=mapper.transcoder)
        forger.key = key
        stored = forger.to_stored_event(event)
    services.ledger.recorder.insert_events([stored])
    services.runner.catch_up()


@pytest.mark.parametrize("key", ["none", "another"])
def test_an_access_entry_inserted_without_the_ledger_key_is_named(services, agency_key, tmp_path, capsys, key) -> None:
    case = with_reads(services, agency_key, reads=1)
    forged_access(services, None if key == "none" else Ed25519PrivateKey.generate())
    status, out = verify(capsys, services)
    why = {"none": "carries no ledger signature, though the ledger has signed its entries since leaf 0",
           "another": "ledger signature fails: the ledger's signature over it does not verify"}[key]  # fmt: skip
    assert status == 1 and out.startswith(f"leaf {case.size}: the access entry") and why in out, out
    assert main(["export", "--out", str(tmp_path / "bundle"), *db_args(services)]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "bundle"), "--processes", "0"]) == 1
    assert capsys.readouterr().out.startswith(f"leaf {case.size}: the access entry")
