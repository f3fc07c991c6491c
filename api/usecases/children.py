"""Looking up a child: need to know first, then one access entry per lookup, before the answer leaves.

Every lookup of a child, whether an API call, a web search, page or its print-out, goes through
``read_child``: the caller's role must allow reading children, a practitioner reads the children of
their own council (another council's only with a break-glass reason, which is recorded and flagged),
and the lookup is appended to the log as exactly one access entry, whatever its answer (SPEC 6.3):
allowed, refused or not found, naming the token's holder, role and scope and what was asked. Only
a question that is malformed (400) or a role that reads no children (403) stores nothing: those
are turned away before anything is looked up.

No answer is an oracle (SPEC 6.2): a practitioner asking, without a break-glass reason, for a child
their council may not read is told exactly what they would be told of a child the ledger does not
know (``NotKnownToCouncil``, 404, the same words); only the log tells the two apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection

from api.tokens import Principal
from api.usecases.child_search import check_digits
from api.usecases.permissions import authorise
from domain.access import MAX_QUERY_VALUE
from domain.access import MAX_REASON as MAX_BREAK_GLASS
from domain.access import log_access
from domain.errors import Forbidden, NotFound
from domain.text import check_query_text
from domain.tokens import Actor
from projections.chronology import child_local_authorities
from projections.identity import Child, resolve_child

if TYPE_CHECKING:
    from api.bootstrap import Services

T = TypeVar("T")

NOT_KNOWN = "no child with that identifier"
NOT_KNOWN_TO_COUNCIL = (
    "no child is known to your council by that identifier; to look beyond your council, give break_glass=<reason>"
)


class NotKnownToCouncil(NotFound):
    """What a practitioner without a break-glass reason is told both when no child has the identifier
    and when the child is another council's: one class, one message, so the answer reveals nothing."""

    def __init__(self) -> None:
        super().__init__(NOT_KNOWN_TO_COUNCIL)


@dataclass(frozen=True, slots=True)
class ChildSelector:
    """How a reader names a child: exactly one of an NHS number, a UPN, a child id, or an agency's
    own reference (``local_id`` with its ``agency``)."""

    nhs_number: str | None = None
    upn: str | None = None
    child: str | None = None
    local_id: str | None = None
    agency: str | None = None

    def as_query(self) -> dict[str, str]:
        """The identifiers given, for the access entry that records what was asked."""
        fields = ("nhs_number", "upn", "child", "local_id", "agency")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    def check(self) -> None:
        """MalformedRequest (400) for an identifier no access entry could hold: the question is
        refused as asked, before anything is looked up or stored."""
        for name, value in self.as_query().items():
            check_query_text(value, name, MAX_QUERY_VALUE)
        check_digits(self.nhs_number, self.upn)

    def resolve(self, conn: Connection, as_of: datetime | None = None) -> Child | None:
        """The child named, now or as the identity facts in force at ``as_of`` made it."""
        return resolve_child(conn, as_of=as_of, **self.as_query())

    def find(self, conn: Connection) -> Child:
        """The child named, as it is now; NotFound (404) when no record names it."""
        child = self.resolve(conn)
        if child is None:
            raise NotFound(NOT_KNOWN)
        return child


@dataclass(frozen=True, slots=True)
class Look:
    """One look at a child: how the child was named, the moment it is seen as known at (None: now), a
    break-glass reason if one was given, and which view it is (one of domain.access.READS; each use
    case sets its own)."""

    selector: ChildSelector
    as_of: datetime | None = None
    break_glass: str | None = None
    view: str = "chronology"


@dataclass(frozen=True, slots=True)
class Admitted:
    """A look that is allowed: the child now, the child as at the look's moment (None when not yet
    known then), and whether only the break-glass reason let the reader in."""

    current: Child
    shown: Child | None
    break_glass: bool


@dataclass(frozen=True, slots=True)
class Turned:
    """A look that shows nothing: its outcome for the log (``refused`` or ``not_found``), the child it
    named (a refused look names the child; the log, never the answer, says so), and the error the
    reader gets."""

    outcome: str
    child: str | None
    error: NotFound


def of_own_council(conn: Connection, principal: Principal, child: Child) -> bool:
    """Whether the reader's need to know covers the child without breaking glass: inquiries read
    every child, a practitioner the children whose records name their council."""
    if principal.role != "practitioner":
        return True
    return principal.local_authority in child_local_authorities(conn, child.id)


def check_look(principal: Principal, look: Look) -> None:
    """What is settled before anything is looked up, and stores nothing: Forbidden for a role that
    reads no children, MalformedRequest for a question no access entry could hold."""
    authorise(principal.role, "read_child")
    look.selector.check()
    if look.break_glass is not None:
        check_query_text(look.break_glass, "break_glass", MAX_BREAK_GLASS, single_line=False)


def admit(conn: Connection, principal: Principal, look: Look) -> Admitted | Turned:
    """Decide the look (``check_look`` first): allowed, or turned away as not found; another council's
    child without a break-glass reason is turned away exactly as an unknown child would be."""
    blind = principal.role == "practitioner" and look.break_glass is None
    current = look.selector.resolve(conn)
    if current is None:
        return Turned("not_found", None, NotKnownToCouncil() if blind else NotFound(NOT_KNOWN))
    inside = of_own_council(conn, principal, current)
    if not inside and look.break_glass is None:
        return Turned("refused", current.id, NotKnownToCouncil())
    shown = current if look.as_of is None else look.selector.resolve(conn, look.as_of)
    return Admitted(current, shown, not inside)


def read_child(
    services: Services,
    principal: Principal,
    look: Look,
    answer: Callable[[Connection, Admitted], T],
    *,
    catch_up: bool = False,
) -> T:
    """Admit the look and compute ``answer``, append the one access entry (through the process's
    write path; with ``catch_up``, bringing the read models up to it), and only then return the
    answer. A look turned away is on the record too: its entry is appended, then the error raised."""
    check_look(principal, look)
    with services.reader.connect() as conn:
        seen = admit(conn, principal, look)
        body = answer(conn, seen) if isinstance(seen, Admitted) else None
    query = look.selector.as_query()
    if isinstance(seen, Turned):
        record_lookup(services, principal, read=look.view, query=query, child=seen.child, outcome=seen.outcome,
                      as_of=look.as_of, reason=look.break_glass, catch_up=catch_up)  # fmt: skip
        raise seen.error
    record_lookup(services, principal, read=look.view, query=query, child=(seen.shown or seen.current).id,
                  as_of=look.as_of, break_glass=seen.break_glass, reason=look.break_glass, catch_up=catch_up)  # fmt: skip
    return body  # type: ignore[return-value]


def record_lookup(
    services: Services,
    principal: Principal,
    *,
    read: str,
    query: dict[str, str],
    child: str | None = None,
    outcome: str = "allowed",
    as_of: datetime | None = None,
    break_glass: bool = False,
    reason: str | None = None,
    catch_up: bool = False,
) -> None:
    """Append one access entry naming the principal (holder, role, scope, token id) through the
    process's write path, durable when this returns; with ``catch_up``, the read models follow it.
    For lookups of no one child (log entries, an export) too: ``child`` None."""

    def append() -> None:
        log_access(
            services.ledger,
            holder=principal.holder,
            token_id=principal.token_id,
            role=principal.role,
            agency=principal.agency,
            local_authority=principal.local_authority,
            child=child,
            read=read,
            query=query,
            as_of=as_of,
            break_glass=break_glass,
            reason=reason,
            outcome=outcome,
        )
        if catch_up:
            services.runner.catch_up()

    services.writes.exclusive(append)


def own_council_child(services: Services, principal: Principal, child_id: str, operation: str) -> Child:
    """The child a practitioner acts on (a decision, a link): only a child of their own council."""
    authorise(principal.role, operation)
    with services.reader.connect() as conn:
        child = ChildSelector(child=child_id).find(conn)
        if not of_own_council(conn, principal, child):
            raise Forbidden("this child is not known to your council")
    return child


def acting_as(principal: Principal) -> Actor:
    """How a decision or a link names who made it (SPEC 6.1): the token's holder, role, council (or
    agency) and token id, never the secret. Entries keep these as structured fields (``by``) beside
    the readable "Sam Example (practitioner, council 309)" that read models show."""
    return principal.actor()
