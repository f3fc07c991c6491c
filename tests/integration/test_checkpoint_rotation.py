"""Checkpoints at a steady rate and the checkpoint key's rotation, on both backends: the timer signs
without any request; a rotation is a log entry both keys sign, after which only the new key signs;
``ledger verify`` (live database and export, with the old or the new vkey) follows the history."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from api.bootstrap import bootstrap
from api.cli import main
from api.keyfiles import ensure_checkpoint_key
from domain.checkpoint import verify_checkpoint
from domain.errors import LedgerError
from projections.checkpoints import latest_checkpoint
from tests.conftest import concern


def test_the_timer_signs_without_requests(settings, agency_key) -> None:
    services = bootstrap(replace(settings, checkpoint_every=10**6, checkpoint_seconds=0.2))
    try:
        services.runner.catch_up()
        services.ledger.register_agency("northshire-police", "police", "Police (fictional)", agency_key.public_key(),
            serves=["309", "310"], by="cli")
        with services.engine.connect() as conn:
            assert latest_checkpoint(conn) is None, "nothing signed the new entries yet"
        services.log.start_timer()
        deadline = time.monotonic() + 60
        while True:
            with services.engine.connect() as conn:
                latest = latest_checkpoint(conn)
            if latest is not None and latest.size == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        services.log.stop_timer()
        assert latest is not None and latest.size == 2, "the timer signed the two entries of the agency"
        assert services.log.timer is None
    finally:
        services.log.stop_timer()
        services.close()


def test_the_timer_step_signs_only_when_due(services, registered, signed) -> None:
    services.runner.catch_up()  # the first entries are signed at once
    assert services.log.sign_if_due() is None, "nothing new: nothing to sign"
    services.ledger.register_agency("southshire-police", "police", "Police (fictional)",
                                    ensure_checkpoint_key(services.settings.checkpoint_key).public_key(), serves=["309", "310"], by="cli")  # fmt: skip
    assert services.log.sign_if_due() is None, "two new entries, not yet 60 seconds old: not due"
    services.signer.seconds = 0  # now they are
    signed_now = services.log.sign_if_due()
    assert signed_now is not None and signed_now.size == 4


def _verify(*argv: str) -> int:
    return main(["verify", "--processes", "0", *argv])


def test_a_rotated_key_signs_from_its_entry_on_and_verification_follows(settings, tmp_path, agency_key, signed, capsys):
    services = bootstrap(settings)
    services.ledger.register_agency("northshire-police", "police", "Police (fictional)", agency_key.public_key(),
        serves=["309", "310"], by="cli")
    services.submit([signed(concern("ref-1"))])
    before = services.checkpoint()
    old_vkey = services.signer.vkey
    services.close()
    new_key = tmp_path / "new-checkpoint.key"
    common = ["--database-url", settings.database_url, "--checkpoint-key", settings.checkpoint_key]
    assert main(["checkpoint", "rotate-key", "--new-key", str(new_key), *common]) == 0
    assert "rotated the checkpoint key" in capsys.readouterr().out
    assert new_key.stat().st_mode & 0o777 == 0o600

    rotated = bootstrap(replace(settings, checkpoint_key=str(new_key)))
    stale = bootstrap(settings)
    try:
        rotated.submit([signed(concern("ref-2"))])
        latest = rotated.checkpoint()
        assert latest.size > before.size + 1
        with pytest.raises(LedgerError):
            verify_checkpoint(latest.note, stale.signer.verifier)  # the old key did not sign it
        verify_checkpoint(latest.note, rotated.signer.verifier)
        history = rotated.log.key_history(_inquiry())
        assert [(h["old_vkey"], h["new_vkey"]) for h in history] == [(old_vkey, rotated.signer.vkey)]
        rotated.submit([signed(concern("ref-3"))])
        with pytest.raises(LedgerError, match="rotated"):
            stale.checkpoint()  # a process still holding the old key signs nothing more
        rotated.checkpoint()
        new_vkey = rotated.signer.vkey
    finally:
        stale.close()
        rotated.close()

    new_common = ["--database-url", settings.database_url, "--checkpoint-key", str(new_key)]
    assert _verify(*new_common) == 0, capsys.readouterr().out
    assert _verify(*new_common, "--vkey", old_vkey) == 0, "an older key held leads to the new one"
    export = tmp_path / "export"
    assert main(["export", "--out", str(export), *new_common]) == 0
    capsys.readouterr()
    assert _verify(str(export)) == 0, capsys.readouterr().out
    assert _verify(str(export), "--vkey", old_vkey) == 0
    assert _verify(str(export), "--vkey", new_vkey) == 0
    out = capsys.readouterr().out
    assert "verified" in out


def test_a_checkpoint_signed_by_the_old_key_after_the_rotation_fails_verification(settings, tmp_path, signed, capsys):
    from domain.checkpoint import Checkpoint, sign_checkpoint
    from projections.checkpoints import checkpoints
    from projections.integrity import root_hash, tree_size

    services = bootstrap(settings)
    old_key = services.signer.private_key
    services.checkpoint()
    services.close()
    new_key = tmp_path / "new.key"
    assert main(["checkpoint", "rotate-key", "--new-key", str(new_key), "--database-url", settings.database_url,
                 "--checkpoint-key", settings.checkpoint_key]) == 0  # fmt: skip
    rotated = bootstrap(replace(settings, checkpoint_key=str(new_key)))
    try:
        rotated.ledger.register_agency("x-police", "police", "X (fictional)", old_key.public_key(),
            serves=["309", "310"], by="cli")
        rotated.runner.catch_up()
        with rotated.engine.begin() as conn:  # an insider signs with the retired key
            size = tree_size(conn)
            note = sign_checkpoint(Checkpoint(settings.origin, size, root_hash(conn, size)), settings.origin, old_key)
            conn.execute(checkpoints.delete().where(checkpoints.c.size == size))
            conn.execute(checkpoints.insert(), {"size": size, "root": root_hash(conn, size), "note": note,
                                                "signed_at": latest_checkpoint(conn).signed_at})  # fmt: skip
    finally:
        rotated.close()
    capsys.readouterr()
    assert _verify("--database-url", settings.database_url, "--checkpoint-key", str(new_key)) == 1
    assert f"leaf {size - 1}: checkpoint of size {size}" in capsys.readouterr().out


def _inquiry():
    from api.tokens import Principal

    return Principal(token_id="t", role="inquiry", holder="Fictional inquiry")
