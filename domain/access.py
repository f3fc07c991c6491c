"""Access entries: every lookup of a child's records, appended to the log like any record.

"Need to know, and every look recorded": a practitioner's or an inquiry's lookup of a child (the
API's reads, the web view's search and pages, an inquiry's fetch of log entries, an export) becomes
an entry of the same Merkle log as the records themselves, so who looked for which child, when,
under what justification and with what answer is as verifiable as who wrote what. A lookup is on the
record whatever its answer: allowed, refused (another council's child, without a reason) or not
found. A read that is allowed only because the reader gave a break-glass reason is flagged.

Entries name people: version 2 of the event (``Access.LoggedV2``) carries the token's holder and the
outcome. Version 1 (``Access.Logged``) is never written any more, but stored ones still decode and
keep their entry bytes.
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

#: What can be looked up: the API's reads of a child (``access`` is its access history), the web
#: view's search, page and print-out (each page shows the chronology, the prompts and, on the page,
#: possible matches: one look, one entry), an inquiry's fetch of log entries, and an export.
#: A break-glass ``link`` joins a child of another council (SPEC 6.2). ``subject_access`` and
#: ``review`` are the proportionate outputs of one child (api/usecases/outputs.py).
READS = ("chronology", "risk", "possible_matches", "child_page", "print", "access", "search", "entries", "export",
         "link", "restricted_record", "subject_access", "review")
#: Opening one restricted record (docs/records.md): ``query`` names its child, agency and record_id;
#: a practitioner's is always break glass, and the recording agency is told.
RESTRICTED_READ = "restricted_record"
#: The answer a lookup got: shown; refused (a child the reader's council may not read, without a
#: break-glass reason: answered exactly as "not found"); or no such child (or range of entries).
OUTCOMES = ("allowed", "refused", "not_found")
MAX_REASON = 1000
MAX_QUERY = 10
MAX_QUERY_VALUE = 256
MAX_HOLDER = 200


class Access(Aggregate):
    """One lookup; a new aggregate per lookup, so lookups never contend."""

    TOPIC = "safeguarding-ledger:Access"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:Access.Created"

    class Logged(Aggregate.Created):
        """Version 1, no longer written: a reader was shown a child's records; ``timestamp`` is when."""

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

    class LoggedV2(Aggregate.Created):
        """Version 2: someone looked something up; who (the token's holder, role and scope), what they
        asked, and the ``outcome``. ``child`` is the child the lookup named (None when none was
        found, or the lookup was of no one child); ``timestamp`` is when."""

        TOPIC = "safeguarding-ledger:Access.Logged.v2"
        ENTRY_KIND = "access"

        holder: str | None
        token_id: str
        role: str
        agency: str | None
        local_authority: str | None
        child: str | None
        read: str
        query: dict
        as_of: str | None
        break_glass: bool
        reason: str | None
        outcome: str

        def entry_fields(self) -> dict:
            return {
                "holder": self.holder,
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
                "outcome": self.outcome,
            }

    @event(LoggedV2)
    def __init__(
        self,
        token_id: str,
        role: str,
        agency: str | None,
        local_authority: str | None,
        child: str | None,
        read: str,
        query: dict,
        as_of: str | None,
        break_glass: bool,
        reason: str | None,
        holder: str | None = None,  # defaults: what a version 1 event, replayed, stands for
        outcome: str = "allowed",
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
        self.holder = holder
        self.outcome = outcome


#: The events that are access entries, oldest version first (for read models and readers of the log).
LOGGED = (Access.Logged, Access.LoggedV2)


def log_access(
    ledger: Ledger,
    *,
    token_id: str,
    role: str,
    child: str | None,
    read: str,
    query: dict[str, str],
    holder: str | None = None,
    agency: str | None = None,
    local_authority: str | None = None,
    as_of: datetime | None = None,
    break_glass: bool = False,
    reason: str | None = None,
    outcome: str = "allowed",
) -> uuid.UUID:
    """Append one access entry and return its aggregate id; call it before the answer is sent.

    ``holder`` is the person the token was issued to, ``query`` what the reader asked by (e.g.
    ``{"nhs_number": ...}``), ``child`` the child id it named, if any, and ``outcome`` one of OUTCOMES.
    Preconditions (InvalidPayload otherwise, and nothing is stored): ``read`` is one of READS, a
    break-glass read has a reason and was allowed, and every text value passes text hygiene
    (domain/text): the reason is free text of 1-1000 characters, everything else single-line. The
    caller should check query values first, as MalformedRequest (400), with the same functions.
    """
    check_access_fields(token_id, role, child, read, query, agency, local_authority, reason, holder, outcome)
    if break_glass and reason is None:
        raise InvalidPayload("a break-glass read needs a reason")
    if break_glass and outcome != "allowed":
        raise InvalidPayload("only an allowed read is flagged as break glass")
    access = Access(
        holder=holder,
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
        outcome=outcome,
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
    holder: object = None,
    outcome: object = "allowed",
) -> None:
    """Every text value an access entry holds, checked before it is appended (SPEC 6.6)."""
    if read not in READS:
        raise InvalidPayload(f"read must be one of {', '.join(READS)}")
    if outcome not in OUTCOMES:
        raise InvalidPayload(f"outcome must be one of {', '.join(OUTCOMES)}")
    check_printable(token_id, "token_id", 128)
    check_printable(role, "role", 64)
    if holder is not None:
        check_printable(holder, "holder", MAX_HOLDER)
    if child is not None:
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
