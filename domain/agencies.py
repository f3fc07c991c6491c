"""Agencies and their signing keys.

An agency's keys are a history in the log, not a mutable setting: a key may sign from the entry that
added it until the entry that revoked it, so revoking a key never invalidates what it signed before.
"""

from __future__ import annotations

import base64
import re
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyExists, InvalidPayload, NotFound

AGENCY_KINDS = (
    "police", "health", "school", "early_years", "housing", "probation", "social_care", "other",
)  # fmt: skip
_AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
AGENCY_NAMESPACE = uuid.UUID("0c8d0f53-6f4a-5d2e-8e7b-2b1f9a4c3d21")


def check_agency_id(agency_id: str) -> str:
    """Agency ids are short lowercase slugs, so they read well in chronologies and URLs."""
    if not isinstance(agency_id, str) or not _AGENCY_ID.fullmatch(agency_id):
        raise InvalidPayload("agency id must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    return agency_id


def agency_aggregate_id(agency_id: str) -> uuid.UUID:
    """The Agency aggregate id, derived from the agency id so registration is naturally unique."""
    return uuid.uuid5(AGENCY_NAMESPACE, agency_id)


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
            raise NotFound(f"agency {self.agency_id} has no key {keyid}")
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
