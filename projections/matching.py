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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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


def _compare(mine, theirs, min_similarity: float) -> tuple[float, dict[str, str]] | None:
    """Why two profiles may be one child, or None: a similar name with the same date of birth or
    postcode, or the same date of birth and postcode whatever the name. The reasons come by kind
    (``name``, ``date_of_birth``, ``postcode``), so several profiles give each reason once."""
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
    reasons = {}
    if similar:
        exact = _normal(pair[0]) == _normal(pair[1])
        reasons["name"] = f"{'same' if exact else 'similar'} name: {pair[0]!r} / {pair[1]!r} (Jaro-Winkler {best:.2f})"
    if same_dob:
        reasons["date_of_birth"] = "same date of birth"
    if same_postcode:
        reasons["postcode"] = "same postcode"
    return best, reasons


def possible_matches(
    conn: Connection, child_id: str, *, as_of: datetime | None = None, min_similarity: float = MIN_SIMILARITY
) -> list[PossibleMatch]:
    """Other children whose stated demographics resemble this child's, most similar first, as known
    at ``as_of`` (None: now): only demographics recorded by then, children as the identity facts in
    force then made them.

    Candidates share a date of birth or a postcode with the child (an indexed look-up); each is
    kept when :func:`_compare` gives reasons, each kind of reason once (the name reason of the most
    similar pair). Children joined to this one (then) are not listed.
    """
    at_us = None if as_of is None else to_micros(as_of)
    component = child_component(conn, child_id, at_us=at_us)
    if component is None:
        return []
    mine = []
    for part in chunks(component.child.keys):
        mine.extend(conn.execute(_known_by(select(profiles).where(profiles.c.key.in_(part)), at_us)))
    dobs = {row.date_of_birth for row in mine if row.date_of_birth}
    postcodes = {row.postcode for row in mine if row.postcode}
    if not dobs and not postcodes:
        return []
    query = (
        select(profiles, keys.c.cluster_id)
        .join(keys, keys.c.key == profiles.c.key)
        .where(or_(profiles.c.date_of_birth.in_(dobs), profiles.c.postcode.in_(postcodes)))
    )
    own = set(component.child.keys)
    best: dict[str, tuple[float, dict[str, str]]] = {}
    children: dict[str, Child] = {}
    for theirs in conn.execute(_known_by(query, at_us)):
        if theirs.key in own:
            continue
        other = _child_of(conn, theirs, at_us, children)
        for row in mine:
            found = _compare(row, theirs, min_similarity)
            if found is None:
                continue
            score, reasons = best.get(other.id, (0.0, {}))
            name = reasons.get("name") if score >= found[0] else found[1].get("name")
            merged = {**found[1], **reasons} | ({"name": name} if name else {})
            best[other.id] = (max(score, found[0]), merged)
    order = ("name", "date_of_birth", "postcode")
    matches = [PossibleMatch(children[c], s, tuple(r[k] for k in order if k in r)) for c, (s, r) in best.items()]
    return sorted(matches, key=lambda m: (-m.similarity, m.child.id))


def _known_by(query, at_us: int | None):
    """Only the demographics first stated by ``at_us`` (all of them for None)."""
    return query if at_us is None else query.where(profiles.c.first_seen_us <= at_us)


def _child_of(conn: Connection, theirs, at_us: int | None, children: dict[str, Child]) -> Child:
    """The child a candidate profile's key named then (now: its cluster), remembered by key."""
    if theirs.key in children:
        return children[theirs.key]
    if at_us is None:
        if theirs.cluster_id not in children:
            members = conn.execute(select(keys.c.key).where(keys.c.cluster_id == theirs.cluster_id)).scalars()
            children[theirs.cluster_id] = Child(theirs.cluster_id, tuple(sorted(members)))
        child = children[theirs.cluster_id]
    else:
        owner = conn.execute(select(keys.c.own_id).where(keys.c.key == theirs.key)).scalar_one()
        child = child_component(conn, owner, at_us=at_us).child
        children[child.id] = child
    children[theirs.key] = child
    return child


@dataclass(frozen=True, slots=True)
class NameCandidate:
    """A child whose stated name and date of birth answer a search, with why, in words."""

    child: Child
    similarity: float
    reasons: tuple[str, ...]
    stated_name: str
    date_of_birth: str


def _part(asked: str | None, stated: str | None) -> tuple[str, float] | None:
    """How one name part compares: ``("exact"|"similar"|"different", score)``; None when not asked."""
    if not asked:
        return None
    if not stated:
        return "different", 0.0
    score = JaroWinkler.normalized_similarity(_normal(asked), _normal(stated))
    return ("exact" if _normal(asked) == _normal(stated) else "similar"), score


def _why(row, given_name: str | None, family_name: str | None, min_similarity: float) -> tuple[float, str] | None:
    """Why a profile with the asked date of birth answers the names asked, or None: every name part
    asked is the same or similar (Jaro-Winkler at least ``min_similarity``), or the whole name is
    similar to one of the profile's aliases."""
    parts = {"given name": _part(given_name, row.given_name), "family name": _part(family_name, row.family_name)}
    parts = {label: found for label, found in parts.items() if found is not None}
    if parts and all(kind == "exact" or score >= min_similarity for kind, score in parts.values()):
        exact = [label for label, (kind, _) in parts.items() if kind == "exact"] + ["date of birth"]
        words = " and ".join([", ".join(exact[:-1]), exact[-1]] if len(exact) > 1 else exact)
        words += " match exactly" if len(exact) > 1 else " matches exactly"
        similar = [f"{label} similar (Jaro-Winkler {score:.2f})" for label, (kind, score) in parts.items()
                   if kind != "exact"]  # fmt: skip
        return sum(score for _, score in parts.values()) / len(parts), "; ".join([words, *similar])
    asked = " ".join(part for part in (given_name, family_name) if part)
    best = max(((JaroWinkler.normalized_similarity(_normal(asked), _normal(a)), a) for a in json.loads(row.aliases)),
               default=(0.0, ""))  # fmt: skip
    if best[0] >= min_similarity:
        return best[0], f"date of birth matches exactly; name similar to an alias (Jaro-Winkler {best[0]:.2f})"
    return None


def children_by_name(
    conn: Connection,
    *,
    date_of_birth: str,
    given_name: str | None = None,
    family_name: str | None = None,
    min_similarity: float = MIN_SIMILARITY,
) -> list[NameCandidate]:
    """Children whose records state this date of birth (exactly: an indexed look-up) and a name like
    the one asked, most similar first, each once with the reason of its most similar profile."""
    query = (
        select(profiles, keys.c.cluster_id)
        .join(keys, keys.c.key == profiles.c.key)
        .where(profiles.c.date_of_birth == date_of_birth)
    )
    best: dict[str, tuple[float, str, str]] = {}
    for row in conn.execute(query):
        found = _why(row, given_name, family_name, min_similarity)
        if found is not None and found[0] > best.get(row.cluster_id, (-1.0,))[0]:
            stated = " ".join(part for part in (row.given_name, row.family_name) if part)
            best[row.cluster_id] = (found[0], found[1], stated)
    members: dict[str, list[str]] = {}
    for part in chunks(best):
        for key, cluster in conn.execute(select(keys.c.key, keys.c.cluster_id).where(keys.c.cluster_id.in_(part))):
            members.setdefault(cluster, []).append(key)
    found = [NameCandidate(Child(c, tuple(sorted(members[c]))), round(score, 3), (why,), stated, date_of_birth)
             for c, (score, why, stated) in best.items()]  # fmt: skip
    return sorted(found, key=lambda c: (-c.similarity, c.child.id))
