"""Agencies append signed records, one envelope or a batch (SPEC section 3).

A token submits only for its own agency; the domain judges each envelope on its own, and the answer
comes only once every accepted record is in the read models (read-your-writes), through the
process's one write path (api/usecases/writes.py), which merges concurrent submissions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from api.tokens import Principal
from api.usecases.permissions import authorise
from domain.errors import LedgerError, TooLarge

if TYPE_CHECKING:
    from api.bootstrap import Services

Outcome = tuple[dict, bool] | LedgerError


class Agencies:
    """The agency's use cases."""

    def __init__(self, services: Services):
        self.services = services

    def submit(self, principal: Principal, envelope: object) -> tuple[dict, bool]:
        """Append one envelope for the token's agency: its receipt, and whether it was already held;
        raises the refusal."""
        authorise(principal.role, "submit")
        (outcome,) = self.services.writes.submit([envelope], principal.agency)
        if isinstance(outcome, LedgerError):
            raise outcome
        return outcome

    def submit_batch(self, principal: Principal, envelopes: Sequence[object]) -> list[Outcome]:
        """Judge each envelope of a batch on its own: a receipt (with whether it was already held) or
        the refusal for each, in order. A batch over the count limit is refused whole (TooLarge);
        an envelope over the size limit is refused alone."""
        authorise(principal.role, "submit")
        settings = self.services.settings
        if len(envelopes) > settings.max_batch_envelopes:
            raise TooLarge(f"a batch holds at most {settings.max_batch_envelopes} envelopes")
        outcomes: list[Outcome | None] = [None] * len(envelopes)
        fitting = []
        for index, envelope in enumerate(envelopes):
            if _encoded_size(envelope) > settings.max_envelope_bytes:
                outcomes[index] = TooLarge(f"an envelope is at most {settings.max_envelope_bytes} bytes")
            else:
                fitting.append(index)
        if fitting:
            appended = self.services.writes.submit([envelopes[i] for i in fitting], principal.agency)
            for index, outcome in zip(fitting, appended):
                outcomes[index] = outcome
        return outcomes  # type: ignore[return-value]


def _encoded_size(envelope: object) -> int:
    """The size of one envelope of a batch as compact JSON, for the per-envelope limit."""
    if isinstance(envelope, (bytes, str)):
        return len(envelope if isinstance(envelope, bytes) else envelope.encode("utf-8", "surrogatepass"))
    return len(json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
