"""The ledger application: the write side, speaking plain values to its callers.

Commands register agencies and keys and append signed records. Each record is an aggregate whose id
is derived from ``(agency, record_id)``, so the event store's own uniqueness makes a repeat a no-op
and a different record under the same id a conflict, even between processes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from domain import envelope as dsse
from domain.agencies import AGENCY_KINDS, Agency, agency_aggregate_id, check_agency_id
from domain.errors import AlreadyExists, InvalidPayload, LedgerError, NotFound, RecordConflict, WrongAgency
from domain.records import Record, parse_payload, peek_agency, record_aggregate_id
from domain.storage import eventsourcing_env

MAX_SAVE_ATTEMPTS = 5


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


@dataclass(frozen=True, slots=True)
class AgencyKey:
    keyid: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    """An agency as callers see it: no aggregate leaves the application."""

    agency_id: str
    kind: str
    name: str
    keys: tuple[AgencyKey, ...]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A record the ledger holds: newly appended, or (``duplicate``) already there with these bytes."""

    agency: str
    record_id: str
    aggregate_id: uuid.UUID
    recorded_at: datetime
    duplicate: bool


class Ledger(Application):
    """The event-sourced ledger. Keep one per process: it owns the database connection pool."""

    name = "Ledger"

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        """A ledger on the database a URL names (domain/storage)."""
        return cls(env=eventsourcing_env(url))

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(BytesAsBase64())
        transcoder.register(DateAsISO())

    # Agencies and keys -------------------------------------------------------------------------

    def register_agency(self, agency_id: str, kind: str, name: str, public_key: Ed25519PublicKey) -> str:
        """Register an agency with its first signing key; returns the key id."""
        check_agency_id(agency_id)
        if kind not in AGENCY_KINDS:
            raise InvalidPayload(f"agency kind must be one of {', '.join(AGENCY_KINDS)}")
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise InvalidPayload("agency name must be 1-200 characters")
        agency = Agency(agency_id=agency_id, kind=kind, name=name)
        keyid = dsse.key_id(public_key)
        agency.add_key(keyid, dsse.raw_public_key(public_key))
        try:
            self.save(agency)
        except IntegrityError as exc:
            raise AlreadyExists(f"agency {agency_id} is already registered") from exc
        return keyid

    def add_key(self, agency_id: str, public_key: Ed25519PublicKey) -> str:
        """Add a signing key (key rotation); returns its key id."""
        agency = self._agency(agency_id)
        keyid = dsse.key_id(public_key)
        agency.add_key(keyid, dsse.raw_public_key(public_key))
        self.save(agency)
        return keyid

    def revoke_key(self, agency_id: str, keyid: str, reason: str) -> None:
        """Revoke a key from this point in the log on."""
        if not isinstance(reason, str) or not 1 <= len(reason) <= 1000:
            raise InvalidPayload("a revocation needs a reason of 1-1000 characters")
        agency = self._agency(agency_id)
        agency.revoke_key(keyid, reason)
        self.save(agency)

    def agency(self, agency_id: str) -> AgencyInfo:
        """An agency and the state of its keys."""
        agency = self._agency(agency_id)
        keys = tuple(AgencyKey(k, k in agency.revoked) for k in agency.keys)
        return AgencyInfo(agency.agency_id, agency.kind, agency.name, keys)

    def _agency(self, agency_id: str) -> Agency:
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
        """
        results: list[Accepted | LedgerError | None] = [None] * len(envelopes)
        pending: dict[uuid.UUID, tuple[int, Record]] = {}
        keys_by_agency: dict[str, dict[str, Ed25519PublicKey]] = {}
        repeats: list[tuple[int, Record]] = []
        for index, raw in enumerate(envelopes):
            try:
                record = self._judge(raw, acting_agency, keys_by_agency, pending)
            except LedgerError as refusal:
                results[index] = refusal
                continue
            if record.id in pending:
                repeats.append((index, record))
            else:
                pending[record.id] = (index, record)
        self._append(pending, results)
        for index, record in repeats:
            first_index, first = pending[record.id]
            earlier = results[first_index]
            if not _same_content(first, record):
                results[index] = _conflict(record)
            elif isinstance(earlier, Accepted):
                results[index] = _as_duplicate(earlier)
            else:
                results[index] = earlier
        return results  # type: ignore[return-value]

    def _judge(
        self,
        raw: bytes | str | dict,
        acting_agency: str | None,
        keys_by_agency: dict[str, dict[str, Ed25519PublicKey]],
        pending: dict[uuid.UUID, tuple[int, Record]],
    ) -> Record:
        """Everything that decides whether one envelope may be appended, short of the store itself."""
        envelope = dsse.parse_envelope(raw)
        data, agency_id = peek_agency(envelope.payload_bytes)
        if acting_agency is not None and agency_id != acting_agency:
            raise WrongAgency(f"this token submits for agency {acting_agency}, not {agency_id}")
        if agency_id not in keys_by_agency:
            try:
                keys_by_agency[agency_id] = self._agency(agency_id).signing_keys()
            except NotFound:
                keys_by_agency[agency_id] = {}
        keyid = dsse.verify(envelope, keys_by_agency[agency_id])
        payload = parse_payload(data)
        if payload.amends is not None:
            target = record_aggregate_id(payload.agency, payload.amends)
            if payload.amends == payload.record_id or (target not in pending and target not in self.repository):
                raise InvalidPayload(f"amends names no earlier record {payload.amends!r} of agency {payload.agency}")
        return Record(
            agency=payload.agency,
            record_id=payload.record_id,
            payload_type=envelope.payload_type,
            payload=envelope.payload,
            signatures=[{"keyid": s.keyid, "sig": s.sig} for s in envelope.signatures],
            keyid=keyid,
        )

    def _append(self, pending: dict[uuid.UUID, tuple[int, Record]], results: list) -> None:
        """Save the new records together; when some already exist (a repeat, or another process got
        there first), settle those one by one and save the rest again."""
        fresh = [(index, record) for index, record in pending.values()]
        for _ in range(MAX_SAVE_ATTEMPTS):
            if not fresh:
                return
            try:
                self.save(*(record for _, record in fresh))
            except IntegrityError:
                still_fresh = []
                for index, record in fresh:
                    try:
                        stored = self.repository.get(record.id)
                    except AggregateNotFoundError:
                        still_fresh.append((index, record))
                        continue
                    results[index] = (
                        _as_duplicate(_accepted(stored)) if _same_content(stored, record) else _conflict(record)
                    )
                fresh = still_fresh
                continue
            for index, record in fresh:
                results[index] = _accepted(record)
            return
        raise LedgerError("the store kept refusing the batch; please try again")


def _same_content(a: Record, b: Record) -> bool:
    """Two envelopes hold the same record when payload type and payload bytes are identical."""
    return a.payload_type == b.payload_type and a.payload == b.payload


def _conflict(record: Record) -> RecordConflict:
    return RecordConflict(
        f"record {record.record_id!r} of agency {record.agency} is already recorded with different content"
    )


def _accepted(record: Record) -> Accepted:
    return Accepted(record.agency, record.record_id, record.id, record.created_on, duplicate=False)


def _as_duplicate(accepted: Accepted) -> Accepted:
    return Accepted(accepted.agency, accepted.record_id, accepted.aggregate_id, accepted.recorded_at, True)
