"""Administrators register agencies, their areas and keys and issue, list and revoke tokens; they
never read a child's records. Agency, area and key changes are ledger commands: log entries naming
the administrator (the token's holder, SPEC 6.4), so no administrator acts unseen. A key is added to
an existing agency only with the agency's own signed statement, or by an override the log flags.
Tokens are access control, kept in the token table (api/tokens.py); issuing or revoking one is a log
entry too (domain/tokens.py), naming the token and the administrator, never the secret. The command
line acts as the ``COMMAND_LINE`` administrator: whoever can run it holds the database already.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from api import tokens
from api.tokens import Principal, TokenInfo
from api.usecases.permissions import authorise
from domain import envelope as dsse
from domain.tokens import log_token_issued, log_token_revoked

if TYPE_CHECKING:
    from api.bootstrap import Services

T = TypeVar("T")

#: The principal of commands run at the command line (``ledger agency add``, ``ledger token issue``).
COMMAND_LINE = Principal(token_id="cli", role="admin", holder="cli")


class Admin:
    """The administrator's use cases."""

    def __init__(self, services: Services):
        self.services = services

    def _command(self, principal: Principal, command: Callable[[], T]) -> T:
        """Run a ledger command under the process's write lock and bring the read models up to date."""
        authorise(principal.role, "administer")

        def run() -> T:
            result = command()
            self.services.runner.catch_up()
            return result

        return self.services.writes.exclusive(run)

    def register_agency(
        self, principal: Principal, agency_id: str, kind: str, name: str, public_key_pem: bytes, serves: Sequence[str]
    ) -> dict:
        """Register an agency serving the councils ``serves``, with its first signing key (log
        entries naming the administrator); returns the agency."""
        authorise(principal.role, "administer")
        public_key = dsse.load_public_key_pem(public_key_pem)
        by = administrator(principal)
        self._command(principal, lambda: self.services.ledger.register_agency(
            agency_id, kind, name, public_key, serves=serves, by=by))  # fmt: skip
        return self.agency(principal, agency_id)

    def add_key(
        self,
        principal: Principal,
        agency_id: str,
        public_key_pem: bytes,
        *,
        statement: bytes | str | dict | None = None,
        override: str | None = None,
    ) -> str:
        """Add a signing key to an agency (rotation; a log entry naming the administrator); returns
        its key id. ``statement`` is the agency's DSSE key statement, signed by one of its current
        keys (domain/keystatements.py); without one, ``override`` gives the reason and the entry is
        flagged as an override, which ``ledger verify`` reports with every record the key signs."""
        authorise(principal.role, "administer")
        public_key = dsse.load_public_key_pem(public_key_pem)
        by = administrator(principal)
        return self._command(principal, lambda: self.services.ledger.add_key(
            agency_id, public_key, by=by, statement=statement, override=override))  # fmt: skip

    def revoke_key(self, principal: Principal, agency_id: str, keyid: str, reason: str) -> None:
        """Revoke a signing key from this point in the log on (a log entry naming the administrator)."""
        authorise(principal.role, "administer")
        by = administrator(principal)
        self._command(principal, lambda: self.services.ledger.revoke_key(agency_id, keyid, reason, by=by))

    def change_areas(self, principal: Principal, agency_id: str, serves: Sequence[str]) -> dict:
        """Set the councils an agency serves from now on (a log entry naming the administrator);
        returns the agency. Records already appended keep the councils they name."""
        authorise(principal.role, "administer")
        by = administrator(principal)
        self._command(principal, lambda: self.services.ledger.change_areas(agency_id, serves, by=by))
        return self.agency(principal, agency_id)

    def agency(self, principal: Principal, agency_id: str) -> dict:
        """An agency, the councils it serves and the state of its keys."""
        authorise(principal.role, "administer")
        info = self.services.ledger.agency(agency_id)
        keys = [{"keyid": key.keyid, "revoked": key.revoked, "override": key.override} for key in info.keys]
        return {"id": info.agency_id, "kind": info.kind, "name": info.name, "serves": list(info.serves), "keys": keys}

    def issue_token(
        self,
        principal: Principal,
        role: str,
        *,
        agency: str | None = None,
        local_authority: str | None = None,
        expires: str | None = None,
        holder: str | None = None,
    ) -> tuple[str, TokenInfo]:
        """Issue a token: its secret (shown once, never stored) and what is kept about it.

        The ``token_issued`` entry is appended first and the token row stored only after it, both
        under the process's write lock: a token authenticates only once its row exists, so a failed
        append leaves no usable token, and a failure (or crash) between the two leaves at worst an
        entry for a token that never worked. Storing the row first would risk the opposite, a
        working token the log does not show. Every rule is checked before either is written.
        """
        authorise(principal.role, "administer")
        if agency is not None:
            self.services.ledger.agency(agency)  # NotFound for an unregistered agency
        expires_at = None if expires is None else tokens.parse_expiry(expires)
        token = tokens.prepare(role, agency=agency, local_authority=local_authority, expires_at=expires_at,
                               holder=holder)  # fmt: skip

        def run() -> None:
            log_token_issued(self.services.ledger, token.info.facts(), by=principal.actor())
            tokens.store(self.services.engine, token)
            self.services.runner.catch_up()

        self.services.writes.exclusive(run)
        return token.secret, token.info

    def list_tokens(self, principal: Principal) -> list[TokenInfo]:
        """Every token ever issued, without secrets."""
        authorise(principal.role, "administer")
        return tokens.list_tokens(self.services.reader)

    def revoke_token(self, principal: Principal, token_id: str) -> TokenInfo:
        """Revoke a token at once, in every process (each request checks the table), and log it.

        Here the row comes first: the token stops working before anything else happens, so a failed
        append leaves the token revoked (the safe side) with its entry missing, and revoking it again
        appends the entry then. The entry is logged once per token (revoking again keeps the first
        revocation and logs nothing more); its ``revoked_at`` is the row's, when the token stopped.
        """
        authorise(principal.role, "administer")

        def run() -> TokenInfo:
            info = tokens.revoke(self.services.engine, token_id)  # NotFound for an unknown id
            assert info.revoked_at is not None
            log_token_revoked(self.services.ledger, info.facts(), revoked_at=tokens.utc(info.revoked_at),
                              by=principal.actor())  # fmt: skip
            self.services.runner.catch_up()
            return info

        return self.services.writes.exclusive(run)


def administrator(principal: Principal) -> str:
    """How an administrative entry names who acted: the admin token's holder (``cli`` at the command
    line); a token issued before holders were kept is named by its token id, never left blank."""
    return principal.holder or f"admin token {principal.token_id}"
