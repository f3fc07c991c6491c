"""Restricted records and sharing decisions (docs/records.md): what a reader is shown of each.

An agency may mark a record ``restricted``. A practitioner sees it only as "A restricted record from
<agency> on <date>": its summary, action, author, category, council and any sharing fields withheld,
in the chronology JSON, the web page, the print-out and the records behind a prompt alike, because
each of them takes its entries through ``shown_entries``. Opening it is a break-glass read with a
reason: one access entry (read ``restricted_record``, flagged) that the recording agency is told of
(its notifications). Inquiries see restricted records in full, and open them without breaking glass.

Restricted records still feed the risk rules (a prompt raised partly by a restricted record is
still a prompt for review); a prompt says which of the records behind it are restricted and never
quotes any record's content.

Sharing decisions: an agency's are signed ``sharing_decision`` records; a practitioner's are entries
the ledger signs (domain/sharing.py), recorded only for a child of their own council, shown in the
chronology answer and in the child's access history ("who has looked, who has shared").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from api.tokens import Principal
from api.usecases.children import (
    Admitted,
    ChildSelector,
    Look,
    Turned,
    acting_as,
    admit,
    check_look,
    own_council_child,
    record_lookup,
)
from api.usecases.permissions import authorise
from domain.access import RESTRICTED_READ
from domain.agencies import check_agency_id
from domain.entries import format_time
from domain.errors import Forbidden, MalformedRequest, NotFound
from domain.sharing import check_sharing, record_sharing
from domain.text import check_reference
from projections.access import child_ids
from projections.chronology import ChronologyEntry, chronology
from projections.notifications import agency_notifications
from projections.sharing import SharingNote, sharing_notes

if TYPE_CHECKING:
    from api.bootstrap import Services

NO_RESTRICTED = "this child has no restricted record with that agency and reference"


def sees_restricted(principal: Principal) -> bool:
    """Whether a reader sees restricted records in full without breaking glass: inquiries only."""
    return principal.role == "inquiry"


def withheld(entry: ChronologyEntry, agency_name: str) -> ChronologyEntry:
    """A restricted entry as a practitioner sees it: that it exists, whose it is and its day."""
    day = entry.occurred_at[:10] if entry.occurred_at else entry.recorded_at.date().isoformat()
    return replace(entry, category=None, occurred_at=day, occurred_precision="date",
                   summary=f"A restricted record from {agency_name} on {day}", action_taken=None,
                   author_role=None, local_authority=None, decision=None, recipient=None, reason=None)  # fmt: skip


def shown_entries(
    principal: Principal, entries: Iterable[ChronologyEntry], agency_name: Callable[[str], str],
    category: str | None = None,
) -> list[ChronologyEntry]:
    """The entries as this reader may see them: restricted ones withheld unless ``sees_restricted``.
    Narrowed by ``category``, a restricted entry is left out: its category is not the reader's to
    learn, and a filter must not tell it."""
    if sees_restricted(principal):
        return list(entries)
    return [withheld(e, agency_name(e.agency)) if e.restricted else e
            for e in entries if not (e.restricted and category is not None)]  # fmt: skip


class Sharing:
    """Opening a restricted record; agencies' notifications; practitioners' sharing decisions."""

    def __init__(self, services: Services):
        self.services = services

    def agency_name(self, agency: str) -> str:
        return self.services.ledger.agency(agency).name

    def open_restricted(
        self, principal: Principal, child_id: str, agency: str, record_id: str, break_glass: str | None
    ) -> dict:
        """One restricted record of a child in full. A practitioner must give a break-glass reason
        (400 without one, nothing stored); the read is flagged and the recording agency told. An
        inquiry needs none. One access entry whatever the answer, as every look at a child."""
        look = Look(ChildSelector(child=child_id), None, break_glass, RESTRICTED_READ)
        check_look(principal, look)
        check_agency_id(agency, "agency", error=MalformedRequest)
        check_reference(record_id, "record_id", error=MalformedRequest)
        if not sees_restricted(principal) and break_glass is None:
            raise Forbidden("a restricted record opens only with break_glass=<reason>; its agency is told")
        query = {"child": child_id, "agency": agency, "record_id": record_id}
        with self.services.reader.connect() as conn:
            seen = admit(conn, principal, look)
            if isinstance(seen, Admitted):
                entry = _restricted_entry(conn, seen, agency, record_id)
                if entry is None:  # on the record as a look that found nothing
                    seen = Turned("not_found", seen.current.id, NotFound(NO_RESTRICTED))
        if isinstance(seen, Turned):
            record_lookup(self.services, principal, read=RESTRICTED_READ, query=query, child=seen.child,
                          outcome=seen.outcome, reason=break_glass, catch_up=True)  # fmt: skip
            raise seen.error
        flagged = not sees_restricted(principal)
        record_lookup(self.services, principal, read=RESTRICTED_READ, query=query, child=seen.current.id,
                      break_glass=flagged, reason=break_glass, catch_up=True)  # fmt: skip
        return {"child": seen.current.to_dict(), "entry": entry.to_dict(), "break_glass": flagged}

    def agency_notifications(self, principal: Principal, limit: int = 100, offset: int = 0) -> dict:
        """What the agency has been told, newest first: practitioners who broke glass to open its
        restricted records (who, which, when, why). Brought up to date first."""
        authorise(principal.role, "read_agency_notifications")
        if not 1 <= limit <= 1000 or offset < 0:
            raise MalformedRequest("limit is 1 to 1000 and offset at least 0")
        self.services.writes.exclusive(lambda: self.services.runner.catch_up(require=("notifications",)))
        with self.services.reader.connect() as conn:
            found = agency_notifications(conn, principal.agency, limit=limit, offset=offset)
        return {"agency": principal.agency, "limit": limit, "offset": offset,
                "notifications": [notification.to_dict() for notification in found]}  # fmt: skip

    def decide(self, principal: Principal, child_id: str, decision: str, recipient: str | None, reason: str) -> dict:
        """Record that you shared information about a child of your council (with whom, why), or
        decided not to. Everything is checked before anything is stored (InvalidPayload, 422)."""
        authorise(principal.role, "share")
        check_sharing(decision, recipient, reason)
        child = own_council_child(self.services, principal, child_id, "share")

        def record():
            receipt = record_sharing(self.services.ledger, child_id=child.id, decision=decision, recipient=recipient,
                                     reason=reason, by=acting_as(principal))  # fmt: skip
            self.services.runner.catch_up()
            return receipt

        receipt = self.services.writes.exclusive(record)
        return {"decision_id": receipt.decision_id, "child": child.id, "decision": decision, "recipient": recipient,
                "recorded_at": format_time(receipt.decided_at)}  # fmt: skip


def notes_of(conn: Connection, seen: Admitted, look: Look) -> list[SharingNote]:
    """Practitioners' sharing decisions on the child looked at, as known at the look's moment."""
    return sharing_notes(conn, child_ids(conn, seen.current), look.as_of)


def _restricted_entry(conn: Connection, seen: Admitted, agency: str, record_id: str) -> ChronologyEntry | None:
    """The child's restricted record ``(agency, record_id)`` as it is now, or None."""
    found = chronology(conn, seen.current.id, agency=agency, limit=1 << 40)
    return next((e for e in found if e.record_id == record_id and e.restricted), None)

