"""People, not tokens: who acted, and the entries that issue and revoke the tokens they act with.

Every act the ledger records (a decision, a link, an administrative change) names the person behind
it (SPEC section 6.1). A bearer token is only how that person proved who they were, so an entry names
an ``Actor``: the token's holder, its role and scope, and its public token id, never the secret or
its hash. Issuing and revoking a token are log entries too (``token_issued``, ``token_revoked``), so
the log itself says who could act as whom, from when, until when, and which administrator let them.

Each issue and each revocation is its own aggregate, with an id derived from the token id, so the
event store's uniqueness keeps either from being logged twice, even between processes, and a token
issued before this entry kind existed can still have its revocation logged.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from domain.agencies import check_agency_id, name_uuid
from domain.councils import check_council_code
from domain.entries import format_time
from domain.errors import InvalidPayload
from domain.text import check_printable

ROLES = ("agency", "practitioner", "inquiry", "admin")
TOKEN_NAMESPACE = uuid.UUID("5d2b8e41-7c3a-5f19-a6e0-3b9d1c4f7a82")
MAX_HOLDER = 200
MAX_TOKEN_ID = 128
#: The readable form of an actor fits the read models' ``*_by`` columns (String(200)).
MAX_SHOWN = 200
TOKEN_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: the holder of a token (None for an agency token that names nobody), its
    role and scope, and its token id (public, for tracing; the command line's is ``cli``)."""

    holder: str | None
    role: str
    token_id: str
    agency: str | None = None
    local_authority: str | None = None

    def check(self) -> Actor:
        """Every field, with the text rules of domain/text; InvalidPayload otherwise."""
        if self.role not in ROLES:
            raise InvalidPayload(f"the actor's role must be one of {', '.join(ROLES)}")
        check_printable(self.token_id, "the actor's token_id", MAX_TOKEN_ID)
        if self.holder is not None:
            check_printable(self.holder, "the actor's holder", MAX_HOLDER)
        if self.agency is not None:
            check_agency_id(self.agency, "the actor's agency")
        if self.local_authority is not None:
            check_council_code(self.local_authority, "the actor's local_authority")
        return self

    def as_entry(self) -> dict:
        """The structured ``by`` of an entry: holder, role, token id and the scope the role has."""
        by: dict = {"holder": self.holder, "role": self.role, "token_id": self.token_id}
        if self.agency is not None:
            by["agency"] = self.agency
        if self.local_authority is not None:
            by["local_authority"] = self.local_authority
        return by

    def shown(self) -> str:
        """How a person reads who acted, e.g. "Sam Example (practitioner, council 309)": the name,
        role and scope, never the token id; at most MAX_SHOWN characters (a long name is shortened
        here, and kept whole in the entry's structured ``by``)."""
        scope = ""
        if self.local_authority is not None:
            scope = f", council {self.local_authority}"
        elif self.agency is not None:
            scope = f", agency {self.agency}"
        suffix = f" ({self.role}{scope})"
        name = self.holder if self.holder is not None else "unnamed holder"
        if len(name) + len(suffix) > MAX_SHOWN:
            name = name[: MAX_SHOWN - len(suffix) - 1] + "\u2026"
        return name + suffix


class TokenIssue(Aggregate):
    """An administrator issued a token. One per token id."""

    TOPIC = "safeguarding-ledger:TokenIssue"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:TokenIssue.Created"

    class Issued(Aggregate.Created):
        """``timestamp`` is when the ledger recorded it; ``expires_at`` None: never expires."""

        TOPIC = "safeguarding-ledger:TokenIssue.Issued.v1"
        ENTRY_KIND = "token_issued"

        token_id: str
        holder: str | None
        role: str
        agency: str | None
        local_authority: str | None
        expires_at: str | None
        by: dict

        def entry_fields(self) -> dict:
            return {
                "token_id": self.token_id,
                "holder": self.holder,
                "role": self.role,
                "agency": self.agency,
                "local_authority": self.local_authority,
                "expires_at": self.expires_at,
                "by": self.by,
            }

    @staticmethod
    def create_id(token_id: str, **_: object) -> uuid.UUID:
        return name_uuid(TOKEN_NAMESPACE, f"issued\x1f{token_id}")

    @event(Issued)
    def __init__(
        self,
        token_id: str,
        holder: str | None,
        role: str,
        agency: str | None,
        local_authority: str | None,
        expires_at: str | None,
        by: dict,
    ) -> None:
        self.token_id = token_id


class TokenRevocation(Aggregate):
    """An administrator revoked a token. One per token id: revoking again logs nothing more."""

    TOPIC = "safeguarding-ledger:TokenRevocation"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:TokenRevocation.Created"

    class Revoked(Aggregate.Created):
        """``revoked_at`` is when the token stopped working (the token table's time), which may be
        before ``timestamp`` when an earlier attempt to log it failed and was repeated."""

        TOPIC = "safeguarding-ledger:TokenRevocation.Revoked.v1"
        ENTRY_KIND = "token_revoked"

        token_id: str
        holder: str | None
        role: str
        agency: str | None
        local_authority: str | None
        expires_at: str | None
        revoked_at: str
        by: dict

        def entry_fields(self) -> dict:
            return {
                "token_id": self.token_id,
                "holder": self.holder,
                "role": self.role,
                "agency": self.agency,
                "local_authority": self.local_authority,
                "expires_at": self.expires_at,
                "revoked_at": self.revoked_at,
                "by": self.by,
            }

    @staticmethod
    def create_id(token_id: str, **_: object) -> uuid.UUID:
        return name_uuid(TOKEN_NAMESPACE, f"revoked\x1f{token_id}")

    @event(Revoked)
    def __init__(
        self,
        token_id: str,
        holder: str | None,
        role: str,
        agency: str | None,
        local_authority: str | None,
        expires_at: str | None,
        revoked_at: str,
        by: dict,
    ) -> None:
        self.token_id = token_id


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What an entry says about a token: everything but its secret (and the secret's hash)."""

    token_id: str
    role: str
    holder: str | None = None
    agency: str | None = None
    local_authority: str | None = None
    expires_at: datetime | None = None

    def check(self) -> TokenFacts:
        """The token table's own rules (api/tokens.py), again, so no entry names a token that makes
        no sense: InvalidPayload otherwise."""
        if not isinstance(self.token_id, str) or not TOKEN_ID.fullmatch(self.token_id):
            raise InvalidPayload("a token id is 16 lowercase hex digits")
        if self.role not in ROLES:
            raise InvalidPayload(f"role must be one of {', '.join(ROLES)}")
        if (self.role == "agency") != (self.agency is not None):
            raise InvalidPayload("an agency token, and only an agency token, names an agency")
        if (self.role == "practitioner") != (self.local_authority is not None):
            raise InvalidPayload("a practitioner token, and only a practitioner token, names a local authority")
        if self.agency is not None:
            check_agency_id(self.agency, "agency")
        if self.local_authority is not None:
            check_council_code(self.local_authority, "local authority")
        if self.holder is not None:
            check_printable(self.holder, "holder", MAX_HOLDER)
        return self

    def fields(self) -> dict:
        return {
            "token_id": self.token_id,
            "holder": self.holder,
            "role": self.role,
            "agency": self.agency,
            "local_authority": self.local_authority,
            "expires_at": None if self.expires_at is None else format_time(self.expires_at),
        }


def log_token_issued(ledger: Application, token: TokenFacts, *, by: Actor) -> uuid.UUID:
    """Append the ``token_issued`` entry of a token (before the token is stored: see
    api/usecases/admin.py); returns its aggregate id. InvalidPayload, storing nothing, for a token or
    an actor that breaks a rule; the event store's IntegrityError if this token id was logged before."""
    issue = TokenIssue(**token.check().fields(), by=by.check().as_entry())
    ledger.save(issue)
    return issue.id


def log_token_revoked(ledger: Application, token: TokenFacts, *, revoked_at: datetime, by: Actor) -> bool:
    """Append the ``token_revoked`` entry of a token unless it is in the log already; returns
    whether this call appended it. InvalidPayload, storing nothing, for a token or actor that breaks
    a rule."""
    revocation = TokenRevocation(**token.check().fields(), revoked_at=format_time(revoked_at),
                                 by=by.check().as_entry())  # fmt: skip
    try:
        ledger.save(revocation)
    except IntegrityError:
        return False
    return True
