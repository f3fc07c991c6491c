"""Witnesses the ledger accepts cosignatures from, and the cosignatures they sent.

A witness is its C2SP cosigner vkey (name and Ed25519 key, type 0x04), registered by an
administrator. Registration decides only which cosignatures the ledger keeps and serves: a client
trusts the witnesses it configured itself, never this table. A cosignature is kept only when it
verifies over a checkpoint this ledger signed, so what is served is always checkable. Neither
table is a read model: ``ledger rebuild`` never drops them (like the checkpoints themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, Connection, DateTime, String, Table, Text, delete, insert, select
from sqlalchemy.dialects import postgresql

from domain.cosignature import Cosignature, Cosigner, cosignatures, parse_cosigner_vkey
from domain.errors import AlreadyExists
from projections.db import metadata

witnesses = Table(
    "integrity_witnesses",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("vkey", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("added_by", String(200), nullable=False),
)

cosignature_rows = Table(
    "integrity_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(200), primary_key=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

TABLES = (witnesses, cosignature_rows)


@dataclass(frozen=True, slots=True)
class Witness:
    """A registered witness."""

    name: str
    vkey: str
    added_at: datetime
    added_by: str


def add_witness(conn: Connection, vkey_text: str, added_by: str) -> Witness:
    """Register a witness by its vkey (ProofError when malformed); AlreadyExists for a taken name."""
    cosigner = parse_cosigner_vkey(vkey_text)
    if conn.execute(select(witnesses.c.name).where(witnesses.c.name == cosigner.name)).first() is not None:
        raise AlreadyExists(f"a witness named {cosigner.name} is registered already")
    row = {"name": cosigner.name, "vkey": cosigner.vkey, "added_at": _now(), "added_by": added_by}
    conn.execute(insert(witnesses), row)
    return Witness(**row)


def remove_witness(conn: Connection, name: str) -> bool:
    """Stop accepting a witness's cosignatures (those kept stay served: they were valid)."""
    return conn.execute(delete(witnesses).where(witnesses.c.name == name)).rowcount > 0


def list_witnesses(conn: Connection) -> list[Witness]:
    rows = conn.execute(select(witnesses).order_by(witnesses.c.name))
    return [Witness(row.name, row.vkey, _aware(row.added_at), row.added_by) for row in rows]


def registered_cosigners(conn: Connection) -> list[Cosigner]:
    return [parse_cosigner_vkey(witness.vkey) for witness in list_witnesses(conn)]


def keep_cosignatures(conn: Connection, size: int, cosigned_note: str) -> list[Cosignature]:
    """Keep every registered witness's cosignature in ``cosigned_note``, whose text the caller has
    checked is that of the ledger's checkpoint of ``size``; ProofError when one fails to verify.
    A witness's newer cosignature of the same checkpoint replaces its older one."""
    found = cosignatures(cosigned_note, registered_cosigners(conn))
    for cosignature in found:
        row = {"size": size, "witness": cosignature.witness, "timestamp": cosignature.timestamp,
               "line": cosignature.line, "received_at": _now()}  # fmt: skip
        keys = (cosignature_rows.c.size == size) & (cosignature_rows.c.witness == cosignature.witness)
        if conn.dialect.name == "postgresql":
            statement = postgresql.insert(cosignature_rows).on_conflict_do_update(
                index_elements=["size", "witness"],
                set_={"timestamp": row["timestamp"], "line": row["line"], "received_at": row["received_at"]},
                where=cosignature_rows.c.timestamp < row["timestamp"],
            )
            conn.execute(statement, row)
        else:
            existing = conn.execute(select(cosignature_rows.c.timestamp).where(keys)).first()
            if existing is None:
                conn.execute(insert(cosignature_rows), row)
            elif existing.timestamp < cosignature.timestamp:
                conn.execute(cosignature_rows.update().where(keys).values(**row))
    return found


def cosignature_lines(conn: Connection, size: int) -> list[str]:
    """The signature lines witnesses sent for the checkpoint of ``size``, by witness name."""
    rows = conn.execute(
        select(cosignature_rows.c.line).where(cosignature_rows.c.size == size).order_by(cosignature_rows.c.witness)
    )
    return [line for (line,) in rows]


def cosigned_sizes(conn: Connection) -> list[int]:
    """Every checkpoint size some witness cosigned, smallest first."""
    rows = conn.execute(select(cosignature_rows.c.size).distinct().order_by(cosignature_rows.c.size))
    return [size for (size,) in rows]


def cosigned_notes(conn: Connection) -> list[tuple[int, str]]:
    """Every cosigned checkpoint as served, ``(size, note)`` by size (for ``ledger verify``)."""
    from projections.checkpoints import checkpoint_of_size, served_note  # they serve these lines

    notes = []
    for size in cosigned_sizes(conn):
        checkpoint = checkpoint_of_size(conn, size)
        if checkpoint is not None:
            notes.append((size, served_note(conn, checkpoint)))
    return notes


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
