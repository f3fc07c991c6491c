"""Looking at a child: need to know first, then one access entry per look, before the answer leaves.

Every read of a child's records, whether an API call, a web page or its print-out, goes through
``read_child``: the caller's role must allow reading children, a practitioner reads the children of
their own council (another council's only with a break-glass reason, which is recorded and flagged),
and the look is appended to the log as exactly one access entry before the answer is handed back.
A refused or failed read stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection

from api.tokens import Principal
from api.usecases.permissions import authorise
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


class OutsideCouncil(Forbidden):
    """A practitioner asked for a child their council does not hold, without a break-glass reason."""


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

    def resolve(self, conn: Connection, as_of: datetime | None = None) -> Child | None:
        """The child named, now or as the identity facts in force at ``as_of`` made it."""
        return resolve_child(conn, as_of=as_of, **self.as_query())

    def find(self, conn: Connection) -> Child:
        """The child named, as it is now; NotFound (404) when no record names it."""
        child = self.resolve(conn)
        if child is None:
            raise NotFound("no child with that identifier")
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


def of_own_council(conn: Connection, principal: Principal, child: Child) -> bool:
    """Whether the reader's need to know covers the child without breaking glass: inquiries read
    every child, a practitioner the children whose records name their council."""
    if principal.role != "practitioner":
        return True
    return principal.local_authority in child_local_authorities(conn, child.id)


def admit(conn: Connection, principal: Principal, look: Look) -> Admitted:
    """Decide whether the look is allowed: Forbidden for a role that reads no children, NotFound for
    an unknown child, OutsideCouncil for another council's child without a break-glass reason."""
    authorise(principal.role, "read_child")
    if look.break_glass is not None:  # a question's text: refused as asked (400), before anything is read
        check_query_text(look.break_glass, "break_glass", MAX_BREAK_GLASS, single_line=False)
    current = look.selector.find(conn)
    inside = of_own_council(conn, principal, current)
    if not inside and look.break_glass is None:
        raise OutsideCouncil("this child is not known to your council; give break_glass=<reason> if you must")
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
    """Admit the look, compute ``answer``, append the one access entry (through the process's write
    path; with ``catch_up``, bringing the read models up to it), and only then return the answer."""
    with services.reader.connect() as conn:
        admitted = admit(conn, principal, look)
        body = answer(conn, admitted)

    def append() -> None:
        log_access(
            services.ledger,
            token_id=principal.token_id,
            role=principal.role,
            agency=principal.agency,
            local_authority=principal.local_authority,
            child=(admitted.shown or admitted.current).id,
            read=look.view,
            query=look.selector.as_query(),
            as_of=look.as_of,
            break_glass=admitted.break_glass,
            reason=look.break_glass,
        )
        if catch_up:
            services.runner.catch_up()

    services.writes.exclusive(append)
    return body


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
