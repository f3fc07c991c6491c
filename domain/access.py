"""Access entries: every read of a child's record, appended to the log like any record.

"Need to know, and every look recorded": a practitioner's or an inquiry's read of a chronology or of
risk prompts becomes an entry of the same Merkle log as the records themselves, so who looked at
which child, when, and under what justification is as verifiable as who wrote what. A read that
is allowed only because the reader gave a break-glass reason is flagged, with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from domain.agencies import check_agency_id
from domain.councils import check_council_code
from domain.entries import format_time
from domain.errors import InvalidPayload
from domain.ledger import Ledger
from domain.text import check_printable, check_reference, check_text, shown_name

#: What can be read about a child: the API's three reads, and the web view's page and print-out (each
#: shows the chronology, the prompts and, on the page, possible matches: one look, one entry), and a
#: break-glass link joining a child of another council (SPEC 6.2).
READS = ("chronology", "risk", "possible_matches", "child_page", "print", "link")
MAX_REASON = 1000
MAX_QUERY = 10
MAX_QUERY_VALUE = 256


class Access(Aggregate):
    """One read of one child's records; a new aggregate per read, so reads never contend."""

    TOPIC = "safeguarding-ledger:Access"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:Access.Created"

    class Logged(Aggregate.Created):
        """A reader was shown a child's records; ``timestamp`` is when."""

        TOPIC = "safeguarding-ledger:Access.Logged.v1"
        ENTRY_KIND = "access"

        token_id: str
        role: str
        agency: str | None
        local_authority: str | None
        child: str
        read: str
        query: dict
        as_of: str | None
        break_glass: bool
        reason: str | None

        def entry_fields(self) -> dict:
            return {
                "token_id": self.token_id,
                "role": self.role,
                "agency": self.agency,
                "local_authority": self.local_authority,
                "child": self.child,
                "read": self.read,
                "query": self.query,
                "as_of": self.as_of,
                "break_glass": self.break_glass,
                "reason": self.reason,
            }

    @event(Logged)
    def __init__(
        self,
        token_id: str,
        role: str,
        agency: str | None,
        local_authority: str | None,
        child: str,
        read: str,
        query: dict,
        as_of: str | None,
        break_glass: bool,
        reason: str | None,
    ) -> None:
        self.token_id = token_id
        self.role = role
        self.agency = agency
        self.local_authority = local_authority
        self.child = child
        self.read = read
        self.query = query
        self.as_of = as_of
        self.break_glass = break_glass
        self.reason = reason


def log_access(
    ledger: Ledger,
    *,
    token_id: str,
    role: str,
    child: str,
    read: str,
    query: dict[str, str],
    agency: str | None = None,
    local_authority: str | None = None,
    as_of: datetime | None = None,
    break_glass: bool = False,
    reason: str | None = None,
) -> uuid.UUID:
    """Append one access entry and return its aggregate id; call it before the answer is sent.

    ``query`` is the identifiers the reader asked by (e.g. ``{"nhs_number": ...}``), ``child`` the
    child id they resolved to. Preconditions (InvalidPayload otherwise, and nothing is stored): ``read``
    is one of READS, a break-glass read has a reason, and every text value passes text hygiene
    (domain/text): the reason is free text of 1-1000 characters, everything else single-line. The
    caller should check query values first, as MalformedRequest (400), with the same functions.
    """
    check_access_fields(token_id, role, child, read, query, agency, local_authority, reason)
    if break_glass and reason is None:
        raise InvalidPayload("a break-glass read needs a reason")
    access = Access(
        token_id=token_id,
        role=role,
        agency=agency,
        local_authority=local_authority,
        child=child,
        read=read,
        query=dict(query),
        as_of=None if as_of is None else format_time(as_of),
        break_glass=break_glass,
        reason=reason,
    )
    ledger.save(access)
    return access.id


def check_access_fields(
    token_id: object,
    role: object,
    child: object,
    read: object,
    query: object,
    agency: object = None,
    local_authority: object = None,
    reason: object = None,
) -> None:
    """Every text value an access entry holds, checked before it is appended (SPEC 6.6)."""
    if read not in READS:
        raise InvalidPayload(f"read must be one of {', '.join(READS)}")
    check_printable(token_id, "token_id", 128)
    check_printable(role, "role", 64)
    check_reference(child, "child")
    if agency is not None:
        check_agency_id(agency, "agency")
    if local_authority is not None:
        check_council_code(local_authority, "local_authority")
    if not isinstance(query, Mapping) or len(query) > MAX_QUERY:
        raise InvalidPayload(f"query must map at most {MAX_QUERY} parameter names to values")
    for name, value in query.items():
        check_printable(name, "a query parameter name", 64)
        check_printable(value, f"query parameter {shown_name(name)}", MAX_QUERY_VALUE)
    if reason is not None:
        check_text(reason, "break-glass reason", MAX_REASON)
