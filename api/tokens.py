"""Bearer tokens: random 256-bit secrets shown once, kept only as SHA-256 hashes.

A token carries a role and its scope: an ``agency`` token is bound to one agency, a ``practitioner``
token to one local authority, ``inquiry`` and ``admin`` tokens to nothing. Tokens expire and can be
revoked; each has a public token id for listing and revoking, so the secret itself is never needed
again after it is printed. The table lives in the ledger's database (it is access control: each
request checks it) and is created by the composition root; that a token was issued or revoked, by
whom, for whom, is history, and the log holds it (domain/tokens.py; api/usecases/admin.py appends it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    String,
    Table,
    insert,
    select,
    update,
)

from domain.councils import check_council_code
from domain.text import check_printable
from domain.errors import InvalidPayload, NotFound
from domain.times import parse_time
from domain.tokens import MAX_HOLDER, ROLES, Actor, TokenFacts
from projections.db import create_tables, metadata

TOKEN_PREFIX = "sgl_"
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("agency", String(64), nullable=True),
    Column("local_authority", String(3), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("holder", String(200), nullable=True),
)

#: Roles whose tokens must name the person (or system) holding them (SPEC section 6.1).
HOLDER_REQUIRED = ("practitioner", "inquiry", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id, role and scope (never the secret)."""

    token_id: str
    role: str
    agency: str | None = None
    local_authority: str | None = None
    expires_at: datetime | None = None
    holder: str | None = None

    def actor(self) -> Actor:
        """Who this caller is, as the entries they make name them: holder, role, scope, token id."""
        return Actor(self.holder, self.role, self.token_id, self.agency, self.local_authority)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as ``token list`` shows it."""

    token_id: str
    role: str
    agency: str | None
    local_authority: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    holder: str | None = None

    def as_json(self) -> dict:
        def stamp(moment: datetime | None) -> str | None:
            return None if moment is None else utc(moment).isoformat().replace("+00:00", "Z")

        return {
            "token_id": self.token_id,
            "holder": self.holder,
            "role": self.role,
            "agency": self.agency,
            "local_authority": self.local_authority,
            "created_at": stamp(self.created_at),
            "expires_at": stamp(self.expires_at),
            "revoked_at": stamp(self.revoked_at),
        }

    def facts(self) -> TokenFacts:
        """What a log entry says about this token (never its secret or hash)."""
        return TokenFacts(self.token_id, self.role, self.holder, self.agency, self.local_authority,
                          None if self.expires_at is None else utc(self.expires_at))  # fmt: skip


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token made but not yet stored: its secret (to show once) and what will be kept about it."""

    secret: str = field(repr=False)  # never in a log line or a traceback's locals by accident
    info: TokenInfo


def create_table(engine: Engine) -> None:
    """Create the token table if absent (safe to repeat)."""
    create_tables(engine, [api_tokens])


def hash_token(secret: str) -> bytes:
    """The stored form of a token: SHA-256 of its text (a 256-bit random secret needs no salt)."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def parse_expiry(text: str) -> datetime:
    """An RFC 3339 date-time with offset, or a date meaning "until the end of that day, UTC"
    (domain/times, the one time reader); InvalidPayload otherwise, also beyond year 9999."""
    return parse_time(text, "expiry", allow_date=True, date_end=True, error=InvalidPayload).instant


def prepare(
    role: str,
    *,
    agency: str | None = None,
    local_authority: str | None = None,
    expires_at: datetime | None = None,
    holder: str | None = None,
) -> NewToken:
    """Make a token, storing nothing: its secret and what will be kept about it.

    Preconditions, refused with InvalidPayload: an agency token names an agency, a practitioner token
    a three-digit local authority code, nothing else carries either, the expiry is in the future, and
    a practitioner, inquiry or admin token names its holder (1-200 printable characters; optional for
    an agency, whose integration may name itself). The caller checks that the agency is registered.
    """
    if role not in ROLES:
        raise InvalidPayload(f"role must be one of {', '.join(ROLES)}")
    if (role == "agency") != (agency is not None):
        raise InvalidPayload("an agency token, and only an agency token, names an agency")
    if (role == "practitioner") != (local_authority is not None):
        raise InvalidPayload("a practitioner token, and only a practitioner token, names a local authority")
    if local_authority is not None:
        check_council_code(local_authority, "local authority")
    if holder is None and role in HOLDER_REQUIRED:
        raise InvalidPayload(f"a {role} token names its holder: the person it is for")
    if holder is not None:
        check_printable(holder, "holder", MAX_HOLDER)
    now = datetime.now(timezone.utc)
    if expires_at is not None and utc(expires_at) <= now:
        raise InvalidPayload("the expiry is already past")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    info = TokenInfo(secrets.token_hex(8), role, agency, local_authority, now, expires_at, None, holder)
    return NewToken(secret, info)


def store(engine: Engine, token: NewToken) -> None:
    """Keep a prepared token (its hash, never the secret): from now on it authenticates."""
    info = token.info
    with engine.begin() as conn:
        conn.execute(
            insert(api_tokens).values(
                token_id=info.token_id,
                token_hash=hash_token(token.secret),
                role=info.role,
                agency=info.agency,
                local_authority=info.local_authority,
                created_at=info.created_at,
                expires_at=info.expires_at,
                revoked_at=None,
                holder=info.holder,
            )
        )


def issue(
    engine: Engine,
    role: str,
    *,
    agency: str | None = None,
    local_authority: str | None = None,
    expires_at: datetime | None = None,
    holder: str | None = None,
) -> tuple[str, TokenInfo]:
    """Make and store a token at once, without a log entry: for tests, fixtures and the demo. An
    administrator issues tokens through api/usecases/admin.py, which logs the issue first."""
    token = prepare(role, agency=agency, local_authority=local_authority, expires_at=expires_at, holder=holder)
    store(engine, token)
    return token.secret, token.info


def authenticate(conn: Connection, secret: str) -> Principal | None:
    """The principal of a presented token, or None when it is unknown, revoked or expired.

    The row is found by the hash's index; the hashes are then compared in constant time, so neither
    the lookup nor the comparison tells an attacker how much of a guess was right.
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    presented = hash_token(secret)
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == presented)).first()
    if row is None or not hmac.compare_digest(row.token_hash, presented):
        return None
    if row.revoked_at is not None:
        return None
    if row.expires_at is not None and utc(row.expires_at) <= datetime.now(timezone.utc):
        return None
    return Principal(row.token_id, row.role, row.agency, row.local_authority, row.expires_at, row.holder)


def revoke(engine: Engine, token_id: str) -> TokenInfo:
    """Revoke a token from now on; revoking twice keeps the first time. NotFound for an unknown id."""
    if not isinstance(token_id, str) or not _TOKEN_ID.fullmatch(token_id):
        raise NotFound("no such token")
    with engine.begin() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(timezone.utc))
        )
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
    if row is None:
        raise NotFound(f"no token {token_id}")
    return _info(row)


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every token ever issued, oldest first (revoked and expired ones too, for the record)."""
    with engine.connect() as conn:
        rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.token_id))
        return [_info(row) for row in rows]


def _info(row) -> TokenInfo:
    return TokenInfo(
        row.token_id, row.role, row.agency, row.local_authority, row.created_at, row.expires_at, row.revoked_at,
        row.holder,
    )


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
