"""The ledger application: the write side, speaking plain values to its callers.

Commands register agencies, their areas and keys (each naming the administrator who acted) and
append signed records. Each record is an aggregate whose id
is derived from ``(agency, record_id)``, so the event store's own uniqueness makes a repeat a no-op
and a different record under the same id a conflict, even between processes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper, StoredEvent, Transcoding
from eventsourcing.utils import Environment, EnvType

from domain import envelope as dsse
from domain.agencies import (
    AGENCY_KINDS,
    Agency,
    agency_aggregate_id,
    check_admin,
    check_agency_id,
    check_serves,
    refuse_unserved,
)
from domain.entries import LEDGER_SIGNATURE, entry_bytes, ledger_signed, sign_entry
from domain.errors import (
    AlreadyExists,
    InvalidPayload,
    LedgerError,
    NotFound,
    RecordConflict,
    SignatureRejected,
    WrongAgency,
)
from domain.records import Record, parse_payload, peek_agency, record_aggregate_id

MAX_SAVE_ATTEMPTS = 5


class StaleAggregates(Exception):
    """An aggregate a batch was judged against (an agency and its keys) changed before the batch
    was appended. The event store's recorder raises it inside the appending transaction, which then
    stores nothing; the ledger judges the batch again against the log as it now is.

    Not a LedgerError: it never leaves the ledger. Refusing stale ``expected_versions`` this way is
    the one thing the ledger asks of the event store it is given, beyond eventsourcing's contract.
    """


class BytesAsBase64(Transcoding):
    """Stores ``bytes`` (public keys) as base64 text in the event JSON."""

    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class DateAsISO(Transcoding):
    """Stores ``date`` values as YYYY-MM-DD."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EntrySigningMapper(Mapper):
    """eventsourcing's mapper, which also signs, as each event is stored, the entry of every event
    no agency signs (domain/entries), keeping the signature in the stored state beside the event's
    fields; read back, the signature is one more attribute of the event, which ``entry_bytes``
    writes into the entry and aggregates ignore (eventsourcing passes them only the fields their
    methods name). One place for every event class, present and future: none of them knows.

    Without a key (``key`` None) such an event is refused, never stored unsigned.
    """

    key: Ed25519PrivateKey | None = None

    def to_stored_event(self, domain_event) -> StoredEvent:
        kind = getattr(type(domain_event), "ENTRY_KIND", None)
        if kind is None or not ledger_signed(kind):
            return super().to_stored_event(domain_event)
        if self.key is None:
            raise LedgerError("this ledger process holds no entry signing key, so it appends no entries but records")
        fields = {name: value for name, value in vars(domain_event).items() if name != LEDGER_SIGNATURE}
        unsigned = super().to_stored_event(_with_state(domain_event, fields))
        # Signed as read back, so the signature covers exactly the entry every reader derives.
        signature = sign_entry(entry_bytes(self.to_domain_event(unsigned)), self.key)
        return super().to_stored_event(_with_state(domain_event, {**fields, LEDGER_SIGNATURE: signature}))


def _with_state(domain_event, state: dict):
    """A copy of a (frozen) event with the given attribute dictionary."""
    copy = object.__new__(type(domain_event))
    object.__setattr__(copy, "__dict__", state)
    return copy


@dataclass(frozen=True, slots=True)
class AgencyKey:
    """One of an agency's keys, whether it has been revoked, and whether an administrator added it
    by override (without the agency's statement)."""

    keyid: str
    revoked: bool
    override: bool = False


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    """An agency as callers see it: no aggregate leaves the application."""

    agency_id: str
    kind: str
    name: str
    keys: tuple[AgencyKey, ...]
    #: The councils it serves, sorted; empty for an agency registered before areas were recorded.
    serves: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Accepted:
    """A record the ledger holds: newly appended, or (``duplicate``) already there with these bytes."""

    agency: str
    record_id: str
    aggregate_id: uuid.UUID
    recorded_at: datetime
    duplicate: bool


class Ledger(Application):
    """The event-sourced ledger, on the event store its ``env`` names (callers build that env from a
    database URL; the domain knows no databases). Keep one per process: it owns the connection pool."""

    name = "Ledger"

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The configuration comes from the given env alone, never from ambient variables.

        eventsourcing would otherwise read the process environment too, where a stray
        ``COMPRESSOR_TOPIC`` or ``LEDGER_SQLITE_DBNAME`` would silently change how or where the log
        is stored.
        """
        return Environment(name, {**type(self).env, **(env or {})})

    def construct_mapper(self) -> Mapper:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=EntrySigningMapper)

    def sign_entries_with(self, key: Ed25519PrivateKey) -> None:
        """Give the ledger its signing key (the checkpoint key): from now on it appends entries no
        agency signs, each signed with it; until then it refuses to append them."""
        self.mapper.key = key

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(BytesAsBase64())
        transcoder.register(DateAsISO())

    # Agencies and keys -------------------------------------------------------------------------

    def register_agency(
        self, agency_id: str, kind: str, name: str, public_key: Ed25519PublicKey, *, serves: Sequence[str], by: str
    ) -> str:
        """Register an agency serving the councils ``serves``, with its first signing key; ``by`` is
        the administrator (an admin token's holder, ``cli`` at the command line). Returns the key id."""
        check_agency_id(agency_id)
        if kind not in AGENCY_KINDS:
            raise InvalidPayload(f"agency kind must be one of {', '.join(AGENCY_KINDS)}")
        Agency.check_name(name)
        areas, by = check_serves(serves), check_admin(by)
        agency = Agency.register(agency_id, kind, name, areas, by)
        keyid = dsse.key_id(public_key)
        agency.add_key(keyid, dsse.raw_public_key(public_key), by)
        try:
            self.save(agency)
        except IntegrityError as exc:
            raise AlreadyExists(f"agency {agency_id} is already registered") from exc
        return keyid

    def add_key(
        self,
        agency_id: str,
        public_key: Ed25519PublicKey,
        *,
        by: str,
        statement: bytes | str | dict | None = None,
        override: str | None = None,
    ) -> str:
        """Add a signing key (key rotation) with the agency's ``statement`` (a DSSE envelope signed by
        one of its current keys, domain/keystatements.py) or an ``override`` reason; returns its key id.
        The statement is judged against the agency's keys as stored when the key is added."""
        check_admin(by)
        if override is not None:
            Agency.check_override_reason(override)
        keyid = dsse.key_id(public_key)
        raw = dsse.raw_public_key(public_key)
        self._change_agency(
            agency_id, lambda agency: agency.add_key(keyid, raw, by, statement=statement, override=override)
        )
        return keyid

    def revoke_key(self, agency_id: str, keyid: str, reason: str, *, by: str) -> None:
        """Revoke a key from this point in the log on."""
        Agency.check_revocation_reason(reason)
        check_admin(by)
        self._change_agency(agency_id, lambda agency: agency.revoke_key(keyid, reason, by))

    def change_areas(self, agency_id: str, serves: Sequence[str], *, by: str) -> tuple[str, ...]:
        """Set the councils an agency serves from now on; returns them as recorded (sorted, once each)."""
        areas, by = check_serves(serves), check_admin(by)
        self._change_agency(agency_id, lambda agency: agency.change_areas(areas, by))
        return areas

    def _change_agency(self, agency_id: str, change: Callable[[Agency], None]) -> None:
        """Apply a change (keys, areas) to the agency as stored and save it, starting again from the stored
        agency when another process changed it in between (the store refuses the stale version)."""
        for _ in range(MAX_SAVE_ATTEMPTS):
            agency = self._agency(agency_id)
            change(agency)
            try:
                self.save(agency)
            except IntegrityError:
                continue
            return
        raise LedgerError(f"agency {agency_id} kept changing underneath; please try again")

    def agency(self, agency_id: str) -> AgencyInfo:
        """An agency and the state of its keys."""
        agency = self._agency(agency_id)
        keys = tuple(AgencyKey(k, k in agency.revoked, k in agency.override_keys) for k in agency.keys)
        return AgencyInfo(agency.agency_id, agency.kind, agency.name, keys, tuple(sorted(agency.serves or ())))

    def _agency(self, agency_id: str) -> Agency:
        check_agency_id(agency_id)  # an id no agency can have is refused, never echoed back
        try:
            return self.repository.get(agency_aggregate_id(agency_id))
        except AggregateNotFoundError:
            raise NotFound(f"agency {agency_id} is not registered") from None

    # Records -----------------------------------------------------------------------------------

    def submit(self, raw: bytes | str | dict, acting_agency: str | None = None) -> Accepted:
        """Verify and append one envelope; raises the LedgerError that refused it."""
        (result,) = self.submit_many([raw], acting_agency)
        if isinstance(result, LedgerError):
            raise result
        return result

    def submit_many(
        self, envelopes: Sequence[bytes | str | dict], acting_agency: str | None = None
    ) -> list[Accepted | LedgerError]:
        """Judge each envelope on its own, then append every accepted one in one transaction.

        ``acting_agency`` is the agency an API token is bound to; a payload naming another is refused.
        A record repeated within the batch is appended once; the repeat is answered like a resubmission.
        """
        for _ in range(MAX_SAVE_ATTEMPTS):
            try:
                return self._submit_batch(envelopes, acting_agency)
            except StaleAggregates:
                continue  # an agency's keys or areas changed while the batch was judged: judge it again
        raise LedgerError("agency keys kept changing while the batch was appended; please try again")

    def _submit_batch(
        self, envelopes: Sequence[bytes | str | dict], acting_agency: str | None
    ) -> list[Accepted | LedgerError]:
        """One attempt of submit_many; raises StaleAggregates, having stored nothing, when a key it
        relied on was added or revoked before the append."""
        results: list[Accepted | LedgerError | None] = [None] * len(envelopes)
        first: dict[uuid.UUID, tuple[int, Record.Recorded]] = {}
        repeats: list[tuple[int, Record.Recorded]] = []
        agencies: dict[str, _SigningKeys] = {}
        for index, raw in enumerate(envelopes):
            try:
                recorded = self._judge(raw, acting_agency, agencies, first)
            except LedgerError as refusal:
                results[index] = refusal
                continue
            if recorded.originator_id in first:
                repeats.append((index, recorded))
            else:
                first[recorded.originator_id] = (index, recorded)
        judged_at = {keys.aggregate_id: keys.version for keys in agencies.values() if keys.aggregate_id}
        held = self._append(list(first.values()), results, judged_at)
        for index, recorded in repeats:
            results[index] = _settle(held[recorded.originator_id], recorded)
        return results  # type: ignore[return-value]

    def _judge(
        self,
        raw: bytes | str | dict,
        acting_agency: str | None,
        agencies: dict[str, _SigningKeys],
        earlier: dict[uuid.UUID, tuple[int, Record.Recorded]],
    ) -> Record.Recorded:
        """Everything that decides whether one envelope may be appended, short of the store itself.

        ``agencies`` caches each agency's keys and areas for the batch (they are checked again at the
        append: see ``_append``); ``earlier`` holds the records accepted so far in the batch, which an
        amendment may name.
        """
        envelope = dsse.parse_envelope(raw)
        data, agency_id = peek_agency(envelope.payload_bytes)
        if acting_agency is not None and agency_id != acting_agency:
            raise WrongAgency(f"this token submits for agency {acting_agency}, not {agency_id}")
        keys = agencies.get(agency_id)
        if keys is None:
            keys = agencies[agency_id] = self._signing_keys(agency_id)
        keyid = keys.verify(envelope, agency_id)
        payload = parse_payload(data)
        refuse_unserved(agency_id, keys.serves, payload.local_authority)
        if payload.amends is not None:
            target = record_aggregate_id(payload.agency, payload.amends)
            if payload.amends == payload.record_id or (target not in earlier and not self._stored_record(target)):
                raise InvalidPayload(f"amends names no earlier record {payload.amends!r} of agency {payload.agency}")
        return Record.recorded(
            agency=payload.agency,
            record_id=payload.record_id,
            payload_type=envelope.payload_type,
            payload=envelope.payload,
            signatures=[s.to_json() for s in envelope.signatures],  # as received: a keyid may be absent
            keyid=keyid,
        )

    def _signing_keys(self, agency_id: str) -> _SigningKeys:
        """The keys that may sign for an agency now, and its areas; an unregistered agency has none."""
        try:
            agency = self._agency(agency_id)
        except NotFound:
            return _SigningKeys({}, frozenset(), aggregate_id=None, version=0, serves=frozenset())
        return _SigningKeys(agency.signing_keys(), frozenset(agency.revoked), agency.id, agency.version, agency.serves)

    def _stored_record(self, aggregate_id: uuid.UUID) -> Record.Recorded | None:
        """The event of a stored record, or None; one indexed query, no aggregate built."""
        stored = self.recorder.select_events(aggregate_id, limit=1)
        return self.mapper.to_domain_event(stored[0]) if stored else None

    def _append(
        self, fresh: list[tuple[int, Record.Recorded]], results: list, judged_at: dict[uuid.UUID, int]
    ) -> dict[uuid.UUID, Record.Recorded]:
        """Store the new records in one transaction and fill in their results; returns, for each
        record id, the event the ledger holds. The transaction also checks that every agency is
        still at the version ``judged_at`` (else the recorder raises StaleAggregates), so keys are
        judged as of the append.

        When some already exist (a repeat, or another process got there first) the store refuses the
        whole transaction: those are settled one by one and the rest saved again.
        """
        held: dict[uuid.UUID, Record.Recorded] = {}
        for _ in range(MAX_SAVE_ATTEMPTS):
            if not fresh:
                return held
            try:
                # Events straight to the event store: the same rows Application.save writes, without
                # its per-object protocol checks (no snapshots, no aggregate cache here).
                self.events.put([recorded for _, recorded in fresh], expected_versions=judged_at)
            except IntegrityError:
                still_fresh = []
                for index, recorded in fresh:
                    stored = self._stored_record(recorded.originator_id)
                    if stored is None:
                        still_fresh.append((index, recorded))
                    else:
                        held[recorded.originator_id] = stored
                        results[index] = _settle(stored, recorded)
                fresh = still_fresh
                continue
            for index, recorded in fresh:
                held[recorded.originator_id] = recorded
                results[index] = _accepted(recorded, duplicate=False)
            return held
        raise LedgerError("the store kept refusing the batch; please try again")


@dataclass(frozen=True, slots=True)
class _SigningKeys:
    """An agency's keys as one batch sees them (at aggregate ``version``): those that may sign,
    those revoked, and the councils it serves (None: never recorded). An unregistered agency has
    no aggregate id."""

    signing: dict[str, Ed25519PublicKey]
    revoked: frozenset[str]
    aggregate_id: uuid.UUID | None
    version: int
    serves: frozenset[str] | None

    def verify(self, envelope: dsse.Envelope, agency_id: str) -> str:
        """The key id (SPEC section 1) of the agency's current key that verified the envelope. Its
        keyids are hints (domain/envelope.py); a refusal says which agency, which keyids, which rule."""
        if self.aggregate_id is None:
            raise SignatureRejected(f"agency {agency_id} is not registered")
        return dsse.verify(envelope, self.signing, owner=agency_id, revoked=self.revoked)


def _settle(held: Record.Recorded, recorded: Record.Recorded) -> Accepted | RecordConflict:
    """A record the ledger already holds: the same content is the original receipt, other is a conflict.

    The same content means the same payload type and payload; the signatures may differ (re-signed).
    """
    if held.payload_type == recorded.payload_type and held.payload == recorded.payload:
        return _accepted(held, duplicate=True)
    return RecordConflict(
        f"record {recorded.record_id!r} of agency {recorded.agency} is already recorded with different content"
    )


def _accepted(recorded: Record.Recorded, duplicate: bool) -> Accepted:
    return Accepted(recorded.agency, recorded.record_id, recorded.originator_id, recorded.timestamp, duplicate)
