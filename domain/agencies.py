"""Agencies and their signing keys.

An agency's keys are a history in the log, not a mutable setting: a key may sign from the entry that
added it until the entry that revoked it, so revoking a key never invalidates what it signed before.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyExists, InvalidPayload, LedgerError, NotFound
from domain.text import check_printable, check_text, shown_name

AGENCY_KINDS = (
    "police", "health", "school", "early_years", "housing", "probation", "social_care", "other",
)  # fmt: skip
#: The agency id rule as an anchored pattern, for request schemas (pydantic's ``pattern``).
AGENCY_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# ASCII only: no re.IGNORECASE (which lets the Kelvin sign match "k") and no \w or \d.
_AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
AGENCY_NAMESPACE = uuid.UUID("0c8d0f53-6f4a-5d2e-8e7b-2b1f9a4c3d21")
MAX_NAME = 200
MAX_REASON = 1000


def is_agency_id(value: object) -> bool:
    """Whether ``value`` is an agency id: 1-64 ASCII ``a-z 0-9 . _ -``, starting with a letter or digit."""
    return isinstance(value, str) and _AGENCY_ID.fullmatch(value) is not None


def check_agency_id(agency_id: object, field: str = "agency id", *, error: type[LedgerError] = InvalidPayload) -> str:
    """The one agency id rule, wherever an id arrives (registration, a payload's ``agency``, a link,
    a query): short lowercase ASCII slugs, so they read well in chronologies and URLs."""
    if not isinstance(agency_id, str):
        raise error(f"{field} must be a string")
    if not _AGENCY_ID.fullmatch(agency_id):
        raise error(f"{field} must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    return agency_id


def agency_aggregate_id(agency_id: str) -> uuid.UUID:
    """The Agency aggregate id, derived from the agency id so registration is naturally unique.

    The same as ``uuid.uuid5(AGENCY_NAMESPACE, agency_id)`` for every id, except that a string no
    UTF-8 can spell (a lone surrogate, e.g. from a command line's undecodable bytes) gives an id
    no agency has instead of an exception: looking it up then finds nothing.
    """
    return name_uuid(AGENCY_NAMESPACE, agency_id)


def name_uuid(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """RFC 4122 version 5 UUID of ``name``; lone surrogates are encoded, not refused (see above)."""
    digest = hashlib.sha1(namespace.bytes + name.encode("utf-8", "surrogatepass")).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


class Agency(Aggregate):
    """A registered agency: its kind, name, and the history of its Ed25519 signing keys."""

    TOPIC = "safeguarding-ledger:Agency"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:Agency.Created"

    class Registered(Aggregate.Created):
        """An administrator registered the agency."""

        TOPIC = "safeguarding-ledger:Agency.Registered.v1"
        ENTRY_KIND = "agency_registered"
        agency_id: str
        kind: str
        name: str

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "agency_kind": self.kind, "name": self.name}

    class KeyAdded(Aggregate.Event):
        """A public key (raw 32 bytes) may sign the agency's records from this entry on."""

        TOPIC = "safeguarding-ledger:Agency.KeyAdded.v1"
        ENTRY_KIND = "key_added"
        agency_id: str
        keyid: str
        public_key: bytes

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "keyid": self.keyid, "public_key": base64.b64encode(self.public_key).decode("ascii")}

    class KeyRevoked(Aggregate.Event):
        """The key may sign nothing from this entry on; what it signed before stays valid."""

        TOPIC = "safeguarding-ledger:Agency.KeyRevoked.v1"
        ENTRY_KIND = "key_revoked"
        agency_id: str
        keyid: str
        reason: str

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "keyid": self.keyid, "reason": self.reason}

    @staticmethod
    def create_id(agency_id: str, **_: object) -> uuid.UUID:
        return agency_aggregate_id(agency_id)

    @staticmethod
    def check_name(name: object) -> str:
        """An agency's name, checked by the Ledger before registering: 1-200 printable characters."""
        return check_printable(name, "agency name", MAX_NAME)

    @staticmethod
    def check_revocation_reason(reason: object) -> str:
        """A key revocation's reason, checked by the Ledger before revoking: free text of 1-1000
        characters (line breaks allowed)."""
        return check_text(reason, "revocation reason", MAX_REASON)

    @event(Registered)
    def __init__(self, agency_id: str, kind: str, name: str) -> None:
        self.agency_id = agency_id
        self.kind = kind
        self.name = name
        self.keys: dict[str, bytes] = {}
        self.revoked: set[str] = set()

    def add_key(self, keyid: str, public_key: bytes) -> None:
        """Register a new signing key; a key id is registered once, ever."""
        if keyid in self.keys:
            raise AlreadyExists(f"key {keyid} is already registered to agency {self.agency_id}")
        self._key_added(agency_id=self.agency_id, keyid=keyid, public_key=public_key)

    @event(KeyAdded)
    def _key_added(self, agency_id: str, keyid: str, public_key: bytes) -> None:
        self.keys[keyid] = public_key

    def revoke_key(self, keyid: str, reason: str) -> None:
        """Stop a key signing from now on."""
        if keyid not in self.keys:
            raise NotFound(f"agency {self.agency_id} has no key {shown_name(keyid, 64)}")
        if keyid in self.revoked:
            raise AlreadyExists(f"key {keyid} is already revoked")
        self._key_revoked(agency_id=self.agency_id, keyid=keyid, reason=reason)

    @event(KeyRevoked)
    def _key_revoked(self, agency_id: str, keyid: str, reason: str) -> None:
        self.revoked.add(keyid)

    def signing_keys(self) -> dict[str, Ed25519PublicKey]:
        """Keys that may sign now: registered and not revoked."""
        return {
            keyid: Ed25519PublicKey.from_public_bytes(raw)
            for keyid, raw in self.keys.items()
            if keyid not in self.revoked
        }
