"""Agencies, the councils they serve and their signing keys.

An agency's keys are a history in the log, not a mutable setting: a key may sign from the entry that
added it until the entry that revoked it, so revoking a key never invalidates what it signed before.
Its areas (the councils it serves, SPEC 6.2) are a history too: a record naming a council in
``local_authority`` is accepted only while its agency serves that council.

Every change is an administrator's act and its entry names the administrator (SPEC 6.4): the
version 2 events below. The version 1 events (before areas and names were recorded) stay decodable
and keep their entry bytes: an agency registered by one has no recorded areas and so serves no
council until an administrator sets its areas (``ledger agency serves``); its records that name no
council are accepted as before. That is the safe reading: nobody decided which councils it serves.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.domain import Aggregate, event

from domain.councils import check_council_code
from domain.errors import AlreadyExists, InvalidPayload, LedgerError, NotFound, SignatureRejected
from domain.keystatements import verify_statement
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
MAX_ADMIN = 200
#: At most this many councils per agency (England has about 150 upper-tier councils; room to spare).
MAX_AREAS = 500


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


def check_serves(serves: object) -> tuple[str, ...]:
    """The councils an agency serves: a list of one or more council codes; returned sorted, each
    once (a repeated code changes nothing, so it is not an error)."""
    if isinstance(serves, (str, bytes)) or not isinstance(serves, (list, tuple, set, frozenset)):
        raise InvalidPayload("serves must be a list of council codes")
    if not 1 <= len(serves) <= MAX_AREAS:
        raise InvalidPayload(f"an agency serves 1-{MAX_AREAS} councils")
    return tuple(sorted({check_council_code(code, "each council an agency serves") for code in serves}))


def check_admin(by: object) -> str:
    """Who did an administrative act: the admin token's holder (``cli`` at the command line)."""
    return check_printable(by, "administrator", MAX_ADMIN)


def refuse_unserved(agency_id: str, serves: frozenset[str] | None, local_authority: str | None) -> None:
    """A record naming a council its agency does not serve is refused (SPEC 6.2); one naming no
    council is not (it gives no council a child)."""
    if local_authority is None or (serves is not None and local_authority in serves):
        return
    if serves is None:
        raise InvalidPayload(
            f"agency {agency_id} has no recorded areas, so it may not record for council {local_authority}: "
            "an administrator must first set the councils it serves"
        )
    raise InvalidPayload(
        f"local_authority {local_authority} is not a council agency {agency_id} serves "
        f"({', '.join(sorted(serves))})"
    )


class Agency(Aggregate):
    """A registered agency: its kind, name, the councils it serves and the history of its keys."""

    TOPIC = "safeguarding-ledger:Agency"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:Agency.Created"

    class Registered(Aggregate.Created):
        """An administrator registered the agency (version 1: no areas, no administrator named)."""

        TOPIC = "safeguarding-ledger:Agency.Registered.v1"
        ENTRY_KIND = "agency_registered"
        agency_id: str
        kind: str
        name: str

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "agency_kind": self.kind, "name": self.name}

    class RegisteredV2(Registered):
        """An administrator registered the agency to serve these councils."""

        TOPIC = "safeguarding-ledger:Agency.Registered.v2"
        serves: list[str]
        registered_by: str

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "agency_kind": self.kind, "name": self.name,
                    "serves": list(self.serves), "registered_by": self.registered_by}  # fmt: skip

    class KeyAdded(Aggregate.Event):
        """A public key (raw 32 bytes) may sign the agency's records from this entry on (version 1)."""

        TOPIC = "safeguarding-ledger:Agency.KeyAdded.v1"
        ENTRY_KIND = "key_added"
        agency_id: str
        keyid: str
        public_key: bytes

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "keyid": self.keyid, "public_key": base64.b64encode(self.public_key).decode("ascii")}

    class KeyAddedV2(Aggregate.Event):
        """An administrator added a key: the first at registration, a further one with the agency's
        ``statement`` (signed by its current key ``signed_by``) or, flagged, an ``override`` reason."""

        TOPIC = "safeguarding-ledger:Agency.KeyAdded.v2"
        ENTRY_KIND = "key_added"
        agency_id: str
        keyid: str
        public_key: bytes
        added_by: str
        statement: dict | None
        signed_by: str | None
        override: str | None

        def entry_fields(self) -> dict:
            return {
                "agency": self.agency_id,
                "keyid": self.keyid,
                "public_key": base64.b64encode(self.public_key).decode("ascii"),
                "added_by": self.added_by,
                "statement": self.statement,
                "signed_by": self.signed_by,
                "override": self.override,
            }

    class KeyRevoked(Aggregate.Event):
        """The key may sign nothing from this entry on; what it signed before stays valid (version 1)."""

        TOPIC = "safeguarding-ledger:Agency.KeyRevoked.v1"
        ENTRY_KIND = "key_revoked"
        agency_id: str
        keyid: str
        reason: str

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "keyid": self.keyid, "reason": self.reason}

    class KeyRevokedV2(Aggregate.Event):
        """An administrator revoked the key: it signs nothing from this entry on."""

        TOPIC = "safeguarding-ledger:Agency.KeyRevoked.v2"
        ENTRY_KIND = "key_revoked"
        agency_id: str
        keyid: str
        reason: str
        revoked_by: str

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "keyid": self.keyid, "reason": self.reason, "revoked_by": self.revoked_by}

    class AreasChanged(Aggregate.Event):
        """An administrator set the councils the agency serves from this entry on (all of them)."""

        TOPIC = "safeguarding-ledger:Agency.AreasChanged.v1"
        ENTRY_KIND = "agency_areas_changed"
        agency_id: str
        serves: list[str]
        changed_by: str

        def entry_fields(self) -> dict:
            return {"agency": self.agency_id, "serves": list(self.serves), "changed_by": self.changed_by}

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

    @staticmethod
    def check_override_reason(reason: object) -> str:
        """Why a key is added without the agency's statement: free text of 1-1000 characters."""
        return check_text(reason, "override reason", MAX_REASON)

    @classmethod
    def register(cls, agency_id: str, kind: str, name: str, serves: tuple[str, ...], by: str) -> Agency:
        """A newly registered agency (version 2), serving ``serves``, registered by ``by``."""
        return cls._create(cls.RegisteredV2, agency_id=agency_id, kind=kind, name=name, serves=list(serves),
                           registered_by=by)  # fmt: skip

    @event(Registered)
    def __init__(
        self, agency_id: str, kind: str, name: str, serves: list[str] | None = None, registered_by: str | None = None
    ) -> None:
        self.agency_id = agency_id
        self.kind = kind
        self.name = name
        #: The councils it serves; None for an agency of version 1 whose areas nobody has set yet.
        self.serves: frozenset[str] | None = None if serves is None else frozenset(serves)
        self.keys: dict[str, bytes] = {}
        self.revoked: set[str] = set()
        self.override_keys: set[str] = set()

    def add_key(
        self, keyid: str, public_key: bytes, by: str, *, statement: object = None, override: str | None = None
    ) -> None:
        """Add a signing key; a key id is registered once, ever. The first key comes with the
        registration; a further one needs the agency's ``statement`` signed by one of its current
        keys, or an ``override`` reason (flagged in the log). Both at once is refused."""
        if keyid in self.keys:
            raise AlreadyExists(f"key {keyid} is already registered to agency {self.agency_id}")
        if statement is not None and override is not None:
            raise InvalidPayload("give a key statement or an override reason, not both")
        stored, signed_by = None, None
        if not self.keys:
            if statement is not None or override is not None:
                raise InvalidPayload("an agency's first key is the one it is registered with")
        elif statement is not None:
            verified = verify_statement(statement, self.agency_id, keyid, public_key, self.signing_keys())
            stored, signed_by = verified.envelope, verified.signed_by
        elif override is None:
            raise SignatureRejected(
                f"a key is added to agency {self.agency_id} only with a key statement signed by one of its "
                "current keys, or with an override reason (which the log flags)"
            )
        self._key_added_v2(agency_id=self.agency_id, keyid=keyid, public_key=public_key, added_by=by,
                           statement=stored, signed_by=signed_by, override=override)  # fmt: skip

    @event(KeyAdded)
    def _key_added(self, agency_id: str, keyid: str, public_key: bytes) -> None:
        self.keys[keyid] = public_key

    @event(KeyAddedV2)
    def _key_added_v2(
        self, agency_id: str, keyid: str, public_key: bytes, added_by: str,
        statement: dict | None, signed_by: str | None, override: str | None,
    ) -> None:  # fmt: skip
        self.keys[keyid] = public_key
        if override is not None:
            self.override_keys.add(keyid)

    def revoke_key(self, keyid: str, reason: str, by: str) -> None:
        """Stop a key signing from now on."""
        if keyid not in self.keys:
            raise NotFound(f"agency {self.agency_id} has no key {shown_name(keyid, 64)}")
        if keyid in self.revoked:
            raise AlreadyExists(f"key {keyid} is already revoked")
        self._key_revoked_v2(agency_id=self.agency_id, keyid=keyid, reason=reason, revoked_by=by)

    @event(KeyRevoked)
    def _key_revoked(self, agency_id: str, keyid: str, reason: str) -> None:
        self.revoked.add(keyid)

    @event(KeyRevokedV2)
    def _key_revoked_v2(self, agency_id: str, keyid: str, reason: str, revoked_by: str) -> None:
        self.revoked.add(keyid)

    def change_areas(self, serves: tuple[str, ...], by: str) -> None:
        """Serve exactly ``serves`` from now on (records already appended keep their councils)."""
        self._areas_changed(agency_id=self.agency_id, serves=list(serves), changed_by=by)

    @event(AreasChanged)
    def _areas_changed(self, agency_id: str, serves: list[str], changed_by: str) -> None:
        self.serves = frozenset(serves)

    def signing_keys(self) -> dict[str, Ed25519PublicKey]:
        """Keys that may sign now: registered and not revoked."""
        return {
            keyid: Ed25519PublicKey.from_public_bytes(raw)
            for keyid, raw in self.keys.items()
            if keyid not in self.revoked
        }
