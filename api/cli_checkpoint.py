"""``ledger checkpoint rotate-key --new-key FILE``: hand the checkpoint key over to a new one.

The rotation is a log entry whose statement the old and the new key both sign (domain/checkpoint_keys);
a checkpoint signed by the new key covers it at once. The new key file is read if it exists, else
created (PKCS#8 PEM, mode 0600). Afterwards every server must be given the new key
(``--checkpoint-key`` or ``LEDGER_CHECKPOINT_KEY``): one still holding the old key signs nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli import open_ledger
from api.keyfiles import ensure_checkpoint_key
from api.usecases.admin import COMMAND_LINE
from domain.errors import LedgerError


def cmd_checkpoint_rotate_key(args: argparse.Namespace) -> int:
    new_key_path = Path(args.new_key)
    services = open_ledger(args)
    try:
        if Path(services.settings.checkpoint_key).resolve() == new_key_path.resolve():
            raise LedgerError("--new-key names the checkpoint key in use; give a new file")
        new_key = ensure_checkpoint_key(new_key_path)
        new_vkey = services.log.rotate_key(COMMAND_LINE, new_key)
    finally:
        services.close()
    print(f"rotated the checkpoint key; its verifier key is now {new_vkey}")
    print(f"serve with --checkpoint-key {new_key_path} (or LEDGER_CHECKPOINT_KEY) from now on")
    return 0
