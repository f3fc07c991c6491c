"""Who may do what: the one table of operations and the roles allowed each (SPEC section 3, Roles).

HTTP consults it before it parses a query (so who may ask is settled before what was asked), the web
view and the CLI through the use cases, which check it again themselves: a new adapter cannot forget.
"""

from __future__ import annotations

from domain.errors import Forbidden

ROLES = ("agency", "practitioner", "inquiry", "admin")

#: operation -> the roles that may perform it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "submit": frozenset({"agency"}),
    "read_child": frozenset({"practitioner", "inquiry"}),
    "decide": frozenset({"practitioner"}),
    "link": frozenset({"practitioner"}),
    "read_notifications": frozenset({"practitioner"}),
    "read_agency_notifications": frozenset({"agency"}),
    "share": frozenset({"practitioner"}),  # a sharing decision (docs/records.md)
    "read_entries": frozenset({"inquiry"}),
    "read_access": frozenset({"practitioner", "inquiry"}),  # a child its council may read (need to know)
    "read_log_state": frozenset({"inquiry"}),
    "verify_log": frozenset(ROLES),
    "read_receipt": frozenset({"agency", "inquiry"}),
    "administer": frozenset({"admin"}),
}


def authorise(role: str, operation: str) -> None:
    """Forbidden (403) unless ``role`` may perform ``operation``."""
    if role not in PERMISSIONS[operation]:
        raise Forbidden(f"a {role} token may not do this")
