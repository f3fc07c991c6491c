"""Key files on disk: agency key pairs and the ledger's checkpoint signing key.

Private keys are written with mode 0600 from the moment the file exists (never chmod afterwards),
and refused if a file is already there, so a typo can never overwrite a key in use.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.envelope import load_private_key_pem
from domain.errors import AlreadyExists


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write a PKCS#8 PEM private key to a new file with mode 0600."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{path} exists already; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def write_public_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write the SubjectPublicKeyInfo PEM of a key pair's public half."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path.write_bytes(pem)


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key."""
    return load_private_key_pem(Path(path).read_bytes())


def ensure_checkpoint_key(path: Path, create: bool = True) -> Ed25519PrivateKey | None:
    """The ledger's checkpoint key: read it, or create it (mode 0600) when absent. With
    ``create=False`` (read-only commands, which must leave no file behind) an absent key is None."""
    path = Path(path)
    if path.exists():
        return read_private_key(path)
    if not create:
        return None
    key = Ed25519PrivateKey.generate()
    write_private_key(path, key)
    return key
