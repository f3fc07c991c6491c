"""Possible matches: demographic similarity that suggests two children may be one, never joins them.

Police often know a child by their own reference and a misspelled name; a child may be known under
another name entirely. Names, aliases, date of birth and postcode are kept per identity key as
records state them, and compared with rapidfuzz's Jaro-Winkler. A suggestion carries its reasons in
words, for a practitioner to confirm with a link (domain/links.py) or ignore; a valid check digit
or a similar name is never treated as a match by itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import JaroWinkler
from sqlalchemy import BigInteger, Column, Connection, String, Table, Text, insert, or_, select

from domain.identifiers import ChildIdentifiers
from domain.links import record_identifiers
from domain.records import Record
from projections.db import metadata
from projections.identity import Child, child_component, chunks, decode_record, keys, to_micros
from projections.runner import LogItem

#: Names at least this similar (Jaro-Winkler, 0..1) count as similar.
MIN_SIMILARITY = 0.88

profiles = Table(
    "matching_profiles",
    metadata,
    Column("profile_id", String(32), primary_key=True),  # hash of the key and the demographics
    Column("key", String(255), nullable=False, index=True),
    Column("given_name", String(200)),
    Column("family_name", String(200)),
    Column("date_of_birth", String(10), index=True),
    Column("postcode", String(10), index=True),  # upper case, no spaces
    Column("aliases", Text, nullable=False),  # JSON list
    Column("first_seen_us", BigInteger, nullable=False),
)


def _postcode(value: str | None) -> str | None:
    return None if value is None else "".join(value.split()).upper()


def profile_row(ident: ChildIdentifiers, at_us: int) -> dict | None:
    """The demographics one identifier object states, under its first strong key; None if it states none."""
    strong = ident.strong_keys()
    stated = (ident.given_name, ident.family_name, ident.date_of_birth, ident.postcode, ident.aliases)
    if not strong or not any(stated):
        return None
    row = {
        "key": strong[0],
        "given_name": ident.given_name,
        "family_name": ident.family_name,
        "date_of_birth": None if ident.date_of_birth is None else ident.date_of_birth.isoformat(),
        "postcode": _postcode(ident.postcode),
        "aliases": json.dumps(list(ident.aliases), ensure_ascii=False),
    }
    row["profile_id"] = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:32]
    row["first_seen_us"] = at_us
    return row


class MatchingProjection:
    """Keeps each distinct set of demographics stated for an identity key."""

    name = "matching"
    tables = (profiles,)

    def apply(self, conn: Connection, items: Sequence[LogItem]) -> None:
        found: dict[str, dict] = {}
        for item in items:
            if isinstance(item.event, Record.Recorded):
                payload = decode_record(item.event)
                at = to_micros(item.event.timestamp)
                for ident in record_identifiers(payload.subject, payload.same_child):
                    row = profile_row(ident, at)
                    if row is not None:
                        found.setdefault(row["profile_id"], row)
        for part in chunks(found):
            for known in conn.execute(select(profiles.c.profile_id).where(profiles.c.profile_id.in_(part))).scalars():
                del found[known]
        if found:
            conn.execute(insert(profiles), list(found.values()))


def _normal(name: str) -> str:
    """Case, accents and punctuation removed, so 'Zoë O'Brien' compares with 'zoe obrien'."""
    text = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s-]", "", text.casefold()).split())


def _names(row) -> list[str]:
    full = " ".join(part for part in (row.given_name, row.family_name) if part)
    return [name for name in [full, *json.loads(row.aliases)] if name]


@dataclass(frozen=True, slots=True)
class PossibleMatch:
    """Another child that may be this one, with the reasons; for a person to confirm or ignore."""

    child: Child
    similarity: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"child": self.child.to_dict(), "similarity": round(self.similarity, 3), "reasons": list(self.reasons)}


def _compare(mine, theirs, min_similarity: float) -> tuple[float, list[str]] | None:
    """Why two profiles may be one child, or None: a similar name with the same date of birth or
    postcode, or the same date of birth and postcode whatever the name."""
    same_dob = mine.date_of_birth is not None and mine.date_of_birth == theirs.date_of_birth
    same_postcode = mine.postcode is not None and mine.postcode == theirs.postcode
    best, pair = 0.0, ("", "")
    for a in _names(mine):
        for b in _names(theirs):
            score = JaroWinkler.normalized_similarity(_normal(a), _normal(b))
            if score > best:
                best, pair = score, (a, b)
    similar = best >= min_similarity
    if not ((similar and (same_dob or same_postcode)) or (same_dob and same_postcode)):
        return None
    reasons = []
    if similar:
        exact = _normal(pair[0]) == _normal(pair[1])
        reasons.append(f"{'same' if exact else 'similar'} name: {pair[0]!r} / {pair[1]!r} (Jaro-Winkler {best:.2f})")
    if same_dob:
        reasons.append("same date of birth")
    if same_postcode:
        reasons.append("same postcode")
    return best, reasons


def possible_matches(conn: Connection, child_id: str, *, min_similarity: float = MIN_SIMILARITY) -> list[PossibleMatch]:
    """Other children whose stated demographics resemble this child's, most similar first.

    Candidates share a date of birth or a postcode with the child (an indexed look-up); each is
    kept when :func:`_compare` gives reasons. Children already joined to this one are not listed.
    """
    component = child_component(conn, child_id)
    if component is None:
        return []
    mine = []
    for part in chunks(component.child.keys):
        mine.extend(conn.execute(select(profiles).where(profiles.c.key.in_(part))))
    dobs = {row.date_of_birth for row in mine if row.date_of_birth}
    postcodes = {row.postcode for row in mine if row.postcode}
    if not dobs and not postcodes:
        return []
    query = (
        select(profiles, keys.c.cluster_id)
        .join(keys, keys.c.key == profiles.c.key)
        .where(or_(profiles.c.date_of_birth.in_(dobs), profiles.c.postcode.in_(postcodes)))
        .where(keys.c.cluster_id != component.child.id)
    )
    best: dict[str, tuple[float, list[str]]] = {}
    for theirs in conn.execute(query):
        for row in mine:
            found = _compare(row, theirs, min_similarity)
            if found is None:
                continue
            score, reasons = best.get(theirs.cluster_id, (0.0, []))
            best[theirs.cluster_id] = (max(score, found[0]), reasons + [r for r in found[1] if r not in reasons])
    members: dict[str, list[str]] = defaultdict(list)
    for part in chunks(best):
        for row in conn.execute(select(keys.c.key, keys.c.cluster_id).where(keys.c.cluster_id.in_(part))):
            members[row.cluster_id].append(row.key)
    matches = [PossibleMatch(Child(c, tuple(sorted(members[c]))), s, tuple(r)) for c, (s, r) in best.items()]
    return sorted(matches, key=lambda m: (-m.similarity, m.child.id))
