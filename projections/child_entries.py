"""Which leaves of the log are about one child, for its evidence bundle (domain/child_bundle.py).

Found through the read models, so a bundle costs queries on the child's rows, not a scan of the
log: the records naming the child's identities (chronology), the practitioners' links touching
them and their unlinks (identity), withdrawals of the joins its records made, decisions on its
prompts (risk), and the lookups of it under any id it was shown under (access). The key history
the bundle carries to check signatures is every entry of the agencies whose records it holds and
every rotation of the checkpoint key. Each leaf comes with its inclusion proof in one checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select

from domain.agencies import agency_aggregate_id
from domain.checkpoint_keys import keys_aggregate_id
from domain.child_bundle import BundleLeaf
from domain.links import RecordLinkWithdrawal
from projections.access import access_reads, child_ids
from projections.checkpoints import inclusion_proof
from projections.chronology import entry_rows
from projections.identity import Child, chunks, fact_keys, facts, to_micros
from projections.integrity import leaves
from projections.risk import decisions


def child_leaves(conn: Connection, child: Child, as_of: datetime | None, size: int) -> list[int]:
    """The leaves below ``size`` about ``child`` (its identities as known at ``as_of``), recorded
    by ``as_of`` (None: now), ascending."""
    at_us = None if as_of is None else to_micros(as_of)
    records = entry_rows(conn, child.keys, at_us)
    found = {row.leaf_index for row in records}
    withdrawals = [str(RecordLinkWithdrawal.create_id(row.agency, row.record_id)) for row in records]
    found |= _leaves_of(conn, leaves.c.originator_id, withdrawals)
    found |= _leaves_of(conn, leaves.c.originator_id, _practitioner_links(conn, child.keys))
    ids = child_ids(conn, child)
    decided = conn.execute(select(decisions.c.notification_id).where(decisions.c.child_id.in_(ids))).scalars()
    looked = conn.execute(select(access_reads.c.notification_id).where(access_reads.c.child.in_(ids))).scalars()
    found |= _leaves_of(conn, leaves.c.notification_id, [*decided, *looked])
    return sorted(index for index in found if index < size and _recorded_by(conn, index, as_of))


def key_history_leaves(conn: Connection, agencies: Iterable[str], origin: str, size: int) -> list[int]:
    """Every leaf below ``size`` of the named agencies (registration, keys, areas) and of the
    checkpoint key's rotations: what checks the bundle's signatures."""
    originators = [str(agency_aggregate_id(agency)) for agency in set(agencies)] + [str(keys_aggregate_id(origin))]
    return sorted(index for index in _leaves_of(conn, leaves.c.originator_id, originators) if index < size)


def bundle_leaves(conn: Connection, indexes: Iterable[int], size: int) -> list[BundleLeaf]:
    """The leaves as the integrity read model stored them (entry bytes and hash), each with its
    inclusion proof in the tree of ``size``, ascending."""
    found = []
    for part in chunks(sorted(set(indexes))):
        query = select(leaves.c.leaf_index, leaves.c.entry, leaves.c.leaf_hash).where(leaves.c.leaf_index.in_(part))
        for index, entry, leaf_hash in conn.execute(query.order_by(leaves.c.leaf_index)):
            proof = inclusion_proof(conn, index, size).proof
            found.append(BundleLeaf(index, bytes(entry), bytes(leaf_hash), tuple(proof)))
    return found


def _practitioner_links(conn: Connection, keys: Iterable[str]) -> list[str]:
    """The practitioners' links (withdrawn or not) naming any of ``keys``: their aggregate ids."""
    found: set[str] = set()
    joined = facts.join(fact_keys, fact_keys.c.fact_id == facts.c.fact_id)
    for part in chunks(keys):
        query = select(facts.c.fact_id).select_from(joined).where(facts.c.source == "practitioner",
                                                                   fact_keys.c.key.in_(part))  # fmt: skip
        found.update(conn.execute(query).scalars())
    return sorted(found)


def _leaves_of(conn: Connection, column, values: Iterable) -> set[int]:
    found: set[int] = set()
    for part in chunks(values):
        found.update(conn.execute(select(leaves.c.leaf_index).where(column.in_(part))).scalars())
    return found


def _recorded_by(conn: Connection, index: int, as_of: datetime | None) -> bool:
    if as_of is None:
        return True
    recorded = conn.execute(select(leaves.c.recorded_at).where(leaves.c.leaf_index == index)).scalar_one()
    return to_micros(recorded) <= to_micros(as_of)
