"""Practitioners linking and unlinking a child's identities: recorded, attributable acts.

Agencies assert identity with ``identity_link`` records (SPEC section 2). A practitioner who confirms
a possible match links identities too, and when a join turns out wrong, unlinks it: a link of their
own, or the identity assertion of an agency record. Both are commands on the ledger, with who and
why, so the identity behind every chronology can be replayed and challenged. Nothing is deleted: an
unlink withdraws a link from the moment it is recorded, and the chronology as it stood before still
shows the join.

Who acted: version 1 events name them in one line of text (``linked_by``, ``unlinked_by``,
``withdrawn_by``); version 2 events, written whenever the caller names an ``Actor``, keep that line as
the holder's readable name, role and council and add ``by``, the holder, role, scope and token id as
structured fields (SPEC section 6.1). Each version 2 class extends its version 1 class, so every
reader of version 1 events reads version 2 ones as well; version 1 events keep their entry bytes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from domain.agencies import agency_aggregate_id, check_agency_id
from domain.errors import AlreadyExists, InvalidPayload, NotFound
from domain.identifiers import ChildIdentifiers, parse_identifiers
from domain.text import check_printable, check_reference, check_text
from domain.records import Record, parse_payload, peek_agency, record_aggregate_id
from domain.tokens import Actor

WITHDRAWAL_NAMESPACE = uuid.UUID("a4d27c51-0e8b-5f36-9c1d-7b3e5a2f8c64")
_IDENTIFIER_FIELDS = {"nhs_number", "upn", "local_id", "agency"}
MAX_IDENTIFIERS = 20
MAX_REASON = 2000
MAX_BY = 200


def identity_keys(identifiers: Iterable[ChildIdentifiers]) -> list[str]:
    """The distinct strong identity keys of some identifier objects, in first-seen order."""
    return list(dict.fromkeys(key for item in identifiers for key in item.strong_keys()))


def record_identifiers(subject: ChildIdentifiers | None, same_child: Iterable[ChildIdentifiers]) -> list[ChildIdentifiers]:
    """Every identifier object a record names: its subject, then its ``same_child`` list."""
    return ([subject] if subject is not None else []) + list(same_child)


class IdentityLink(Aggregate):
    """A practitioner's assertion that some identifiers are one child, until they unlink it."""

    TOPIC = "safeguarding-ledger:IdentityLink"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:IdentityLink.Created"

    class Linked(Aggregate.Created):
        """``identifiers`` are strong identifier objects (nhs_number, upn, or agency + local_id)."""

        TOPIC = "safeguarding-ledger:IdentityLink.Linked.v1"
        ENTRY_KIND = "identity_linked"
        identifiers: list[dict]
        linked_by: str
        reason: str

        def entry_fields(self) -> dict:
            return {"identifiers": self.identifiers, "linked_by": self.linked_by, "reason": self.reason}

    class Unlinked(Aggregate.Event):
        """The link no longer joins anything from this entry on."""

        TOPIC = "safeguarding-ledger:IdentityLink.Unlinked.v1"
        ENTRY_KIND = "identity_unlinked"
        unlinked_by: str
        reason: str

        def entry_fields(self) -> dict:
            return {"unlinked_by": self.unlinked_by, "reason": self.reason}

    class LinkedV2(Linked):
        """A link naming its actor: ``by`` is ``Actor.as_entry()``, ``linked_by`` its readable form."""

        TOPIC = "safeguarding-ledger:IdentityLink.Linked.v2"
        by: dict

        def entry_fields(self) -> dict:
            return {**super().entry_fields(), "by": self.by}

    class UnlinkedV2(Unlinked):
        """An unlink naming its actor: ``by`` is ``Actor.as_entry()``, ``unlinked_by`` its readable form."""

        TOPIC = "safeguarding-ledger:IdentityLink.Unlinked.v2"
        by: dict

        def entry_fields(self) -> dict:
            return {**super().entry_fields(), "by": self.by}

    @event(Linked)
    def __init__(self, identifiers: list[dict], linked_by: str, reason: str) -> None:
        self.identifiers = identifiers
        self.unlinked = False

    def unlink(self, by: str | Actor, reason: str) -> None:
        if self.unlinked:
            raise AlreadyExists(f"link {self.id} is already unlinked")
        if isinstance(by, Actor):
            self._unlinked_v2(unlinked_by=by.shown(), reason=reason, by=by.as_entry())
        else:
            self._unlinked(unlinked_by=by, reason=reason)

    @event(Unlinked)
    def _unlinked(self, unlinked_by: str, reason: str) -> None:
        self.unlinked = True

    @event(UnlinkedV2)
    def _unlinked_v2(self, unlinked_by: str, reason: str, by: dict) -> None:
        self.unlinked = True


class RecordLinkWithdrawal(Aggregate):
    """A practitioner withdraws the identity assertion an agency record makes (its identifiers are
    no longer joined because of it). Its id is derived from the record, so it happens once."""

    TOPIC = "safeguarding-ledger:RecordLinkWithdrawal"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:RecordLinkWithdrawal.Created"

    class Withdrawn(Aggregate.Created):
        TOPIC = "safeguarding-ledger:RecordLinkWithdrawal.Withdrawn.v1"
        ENTRY_KIND = "record_link_withdrawn"
        agency: str
        record_id: str
        withdrawn_by: str
        reason: str

        def entry_fields(self) -> dict:
            return {
                "agency": self.agency,
                "record_id": self.record_id,
                "withdrawn_by": self.withdrawn_by,
                "reason": self.reason,
            }

    class WithdrawnV2(Withdrawn):
        """A withdrawal naming its actor: ``by`` is ``Actor.as_entry()``, ``withdrawn_by`` its readable form."""

        TOPIC = "safeguarding-ledger:RecordLinkWithdrawal.Withdrawn.v2"
        by: dict

        def entry_fields(self) -> dict:
            return {**super().entry_fields(), "by": self.by}

    @staticmethod
    def create_id(agency: str, record_id: str, **_: object) -> uuid.UUID:
        return uuid.uuid5(WITHDRAWAL_NAMESPACE, str(record_aggregate_id(agency, record_id)))

    @event(Withdrawn)
    def __init__(self, agency: str, record_id: str, withdrawn_by: str, reason: str) -> None:
        self.agency = agency
        self.record_id = record_id


@dataclass(frozen=True, slots=True)
class LinkReceipt:
    """A link or unlink as the caller sees it: the link's id and when the ledger recorded the act."""

    link_id: str
    recorded_at: datetime


def _check_act(by: str | Actor, reason: str) -> tuple[str, dict]:
    """Who acted and why (free text), with text hygiene (domain/text). Returns the one line that
    names the actor and, for an Actor, the version 2 fields (``{"by": ...}``; else none)."""
    shown = by.check().shown() if isinstance(by, Actor) else by
    check_printable(shown, "by", MAX_BY)
    check_text(reason, "reason", MAX_REASON)
    return shown, ({"by": by.as_entry()} if isinstance(by, Actor) else {})


def link_identities(
    ledger: Application, identifiers: Iterable[Mapping], *, by: str | Actor, reason: str
) -> LinkReceipt:
    """Record that these identifier objects are one child (a practitioner confirming a match).

    Each object holds strong identifiers only: ``nhs_number``, ``upn``, or ``local_id`` with the
    ``agency`` whose reference it is (a registered agency). Together they must name two or more
    distinct identities. ``by``: an ``Actor`` (a version 2 entry) or one line of text (version 1).
    """
    shown, v2 = _check_act(by, reason)
    items = list(identifiers)
    if not 2 <= len(items) <= MAX_IDENTIFIERS:
        raise InvalidPayload(f"a link names 2 to {MAX_IDENTIFIERS} identifier objects")
    parsed = []
    for index, item in enumerate(items):
        field = f"identifiers[{index}]"
        if not isinstance(item, Mapping) or not set(item) <= _IDENTIFIER_FIELDS:
            raise InvalidPayload(f"{field} may only hold nhs_number, upn, local_id and agency")
        if item.get("local_id") is not None:
            agency = check_agency_id(item.get("agency"), f"{field}.agency")
            if agency_aggregate_id(agency) not in ledger.repository:
                raise NotFound(f"agency {agency} is not registered")
        parsed.append(parse_identifiers(dict(item), field, item.get("agency"), allow_agency=True))
    if len(identity_keys(parsed)) < 2:
        raise InvalidPayload("a link must name at least two different identities")
    normalised = [
        {k: v for k, v in (("nhs_number", p.nhs_number), ("upn", p.upn), ("local_id", p.local_id)) if v}
        | ({"agency": p.agency} if p.local_id else {})
        for p in parsed
    ]
    if v2:
        link = IdentityLink._create(IdentityLink.LinkedV2, identifiers=normalised, linked_by=shown, reason=reason,
                                    **v2)  # fmt: skip
    else:
        link = IdentityLink(identifiers=normalised, linked_by=shown, reason=reason)
    ledger.save(link)
    return LinkReceipt(str(link.id), link.created_on)


def unlink_identities(
    ledger: Application,
    *,
    by: str | Actor,
    reason: str,
    link_id: str | None = None,
    agency: str | None = None,
    record_id: str | None = None,
) -> LinkReceipt:
    """Withdraw a join: a practitioner's link (``link_id``), or the identity assertion of an agency
    record (``agency`` + ``record_id``: an ``identity_link`` record, or any record naming several
    identifiers). Exactly one target; the returned id is the link's or the withdrawal's. ``by`` as
    for :func:`link_identities`."""
    shown, v2 = _check_act(by, reason)
    if (link_id is None) == (record_id is None):
        raise InvalidPayload("unlink names either a link_id or an agency record, not both")
    if link_id is not None:
        try:
            wanted = uuid.UUID(str(link_id))
        except ValueError:
            raise NotFound("no identity link has that id (link ids are UUIDs)") from None
        try:
            link = ledger.repository.get(wanted)
        except AggregateNotFoundError:
            raise NotFound(f"no identity link {wanted}") from None
        if not isinstance(link, IdentityLink):
            raise NotFound(f"no identity link {wanted}")
        link.unlink(by, reason)
        ledger.save(link)
        return LinkReceipt(str(link.id), link.modified_on)
    agency = check_agency_id(agency, "agency")
    record_id = check_reference(record_id, "record_id")
    try:
        record = ledger.repository.get(record_aggregate_id(agency, record_id))
    except AggregateNotFoundError:
        raise NotFound(f"agency {agency} has no record {record_id!r}") from None
    if not isinstance(record, Record):
        raise NotFound(f"agency {agency} has no record {record_id!r}")
    payload = parse_payload(peek_agency(base64.b64decode(record.payload))[0])
    if len(identity_keys(record_identifiers(payload.subject, payload.same_child))) < 2:
        raise InvalidPayload(f"record {record_id!r} of agency {agency} joins no identities")
    fields = {"agency": agency, "record_id": record_id, "withdrawn_by": shown, "reason": reason}
    if v2:
        withdrawal = RecordLinkWithdrawal._create(RecordLinkWithdrawal.WithdrawnV2, **fields, **v2)
    else:
        withdrawal = RecordLinkWithdrawal(**fields)
    try:
        ledger.save(withdrawal)
    except IntegrityError:
        raise AlreadyExists(f"record {record_id!r} of agency {agency}: its identity link is already withdrawn") from None
    return LinkReceipt(str(withdrawal.id), withdrawal.created_on)
