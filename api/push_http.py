"""The HTTP side of ``ledger push``: a client that retries what is safe to retry, and the check of
every receipt against the ledger's signed checkpoint (SPEC sections 3 and 4).

Retrying a submission is safe because the ledger's answer to the identical envelope sent again is
the original receipt (200), never a second record; so a 503, a 5xx or a dropped connection is met
with exponential back-off (honouring ``Retry-After``), and only a refusal that would be the same
next time (400, 401, 403, 404, 409, 413, 422) ends the attempt. Trust is not taken from the server
it talks to: the checkpoint must carry a signature by the verifier key the agency pinned
(``--vkey``), and each receipt's leaf must prove into that checkpoint's root (domain/merkle.py).
The token goes in the Authorization header only: it is never printed, logged or written.
"""

from __future__ import annotations

import base64
import binascii
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from domain.checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from domain.errors import LedgerError, ProofError, Unavailable
from domain.merkle import verify_consistency, verify_inclusion

#: Statuses worth another try: the ledger is busy, restarting, or behind a proxy that is.
RETRYABLE = frozenset({429, 500, 502, 503, 504})
MAX_DELAY = 30.0


class Refused(LedgerError):
    """The ledger refused a whole request in a way a retry cannot change (a bad token, say)."""

    slug = "refused"

    def __init__(self, status: int, detail: str):
        super().__init__(f"the ledger answered {status}: {detail}")
        self.status = status


@dataclass
class RetryPolicy:
    """How often and how patiently to try again: ``backoff`` seconds, doubling up to MAX_DELAY."""

    retries: int = 10
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: str | None) -> float:
        wanted = min(MAX_DELAY, self.backoff * 2**attempt) * random.uniform(0.75, 1.0)
        if retry_after is not None and retry_after.isdigit():
            wanted = max(wanted, min(MAX_DELAY, float(retry_after)))
        return wanted


class LedgerClient:
    """The few requests an agency's tool makes, each retried under ``policy``."""

    def __init__(self, base_url: str, token: str, policy: RetryPolicy, timeout: float = 120.0):
        base = base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        self.base_url = base
        self.policy = policy
        self.retried = 0
        self._http = httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "ledger-push"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """The answer to one request, after as many retries as the policy allows; raises Unavailable
        when the ledger never answered usefully, Refused for a final refusal of the request."""
        last = ""
        for attempt in range(self.policy.retries + 1):
            retry_after = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                last = f"{type(error).__name__} talking to {self.base_url}"
            else:
                if response.status_code not in RETRYABLE:
                    return response
                retry_after = response.headers.get("retry-after")
                last = f"{response.status_code} {_detail(response)}"
            if attempt == self.policy.retries:
                break
            wait = self.policy.delay(attempt, retry_after)
            self.retried += 1
            print(f"ledger push: {last}; retry {attempt + 1} of {self.policy.retries} in {wait:.1f} s", file=sys.stderr)
            self.policy.sleep(wait)
        raise Unavailable(f"the ledger did not answer after {self.policy.retries + 1} attempts ({last}); "
                          "run the same command again to resume")  # fmt: skip

    def submit_batch(self, envelopes: list[dict]) -> list[dict]:
        """The ledger's result (a receipt or a problem) for each envelope, in order. A batch the
        ledger finds too large is split in two and each half sent on its own."""
        response = self.request("POST", "/v1/records/batch", json={"envelopes": envelopes})
        if response.status_code == 413 and len(envelopes) > 1:
            half = len(envelopes) // 2
            return self.submit_batch(envelopes[:half]) + self.submit_batch(envelopes[half:])
        if response.status_code == 413:
            return [_json(response, 413)]
        results = _json(response).get("results")
        if not isinstance(results, list) or len(results) != len(envelopes):
            raise Refused(response.status_code, "the batch answer does not hold one result per envelope")
        return results

    def checkpoint(self, verifier: NoteVerifier) -> tuple[str, Checkpoint]:
        """The latest checkpoint note and what it says, once its signature by ``verifier`` checks
        and it names the verifier's log."""
        response = self.request("GET", "/v1/log/checkpoint")
        if response.status_code != 200:
            raise Refused(response.status_code, _detail(response))
        checkpoint = verify_checkpoint(response.text, verifier)
        if checkpoint.origin != verifier.name:
            raise ProofError(f"the checkpoint is of log {checkpoint.origin!r}, not {verifier.name!r}")
        return response.text, checkpoint

    def verify_receipt(self, receipt: dict, checkpoint: Checkpoint) -> None:
        """Check that the receipt's leaf is in the checkpoint's tree; ProofError says why not."""
        index, leaf_hash = receipt.get("leaf_index"), _b64(receipt.get("leaf_hash"), "the receipt's leaf_hash")
        if not isinstance(index, int) or not 0 <= index < checkpoint.size:
            raise ProofError(f"leaf {index} is not in the checkpoint's tree of size {checkpoint.size}")
        response = self.request("GET", "/v1/log/proof/inclusion", params={"index": index, "size": checkpoint.size})
        if response.status_code != 200:
            raise ProofError(f"the ledger gives no inclusion proof for leaf {index}: {_detail(response)}")
        proof = _json(response)
        if proof.get("leaf_hash") != receipt.get("leaf_hash"):
            raise ProofError(f"the ledger's leaf {index} is not the one the receipt names")
        hashes = [_b64(node, "a proof hash") for node in proof.get("proof", [])]
        verify_inclusion(leaf_hash, index, checkpoint.size, hashes, checkpoint.root)

    def verify_consistent(self, older: Checkpoint, newer: Checkpoint) -> None:
        """Check that the log of an earlier push is a prefix of the log now (nothing rewritten)."""
        if older.size > newer.size:
            raise ProofError(f"the log shrank from {older.size} entries to {newer.size}")
        if older.size == 0:
            return  # the empty tree is a prefix of every tree; there is no proof to ask for
        response = self.request("GET", "/v1/log/proof/consistency", params={"from": older.size, "to": newer.size})
        if response.status_code != 200:
            raise ProofError(f"the ledger gives no consistency proof from {older.size} to {newer.size}")
        proof = _json(response)
        hashes = [_b64(node, "a proof hash") for node in proof.get("proof", [])]
        verify_consistency(older.size, newer.size, hashes, older.root, newer.root)


def _json(response: httpx.Response, wanted: int = 200) -> dict:
    """The JSON object of an answer with status ``wanted``; anything else raises Refused with the
    ledger's own detail (a bad token, a refused batch): retrying would get the same answer."""
    if response.status_code != wanted:
        raise Refused(response.status_code, _detail(response))
    try:
        data = response.json()
    except ValueError:
        raise Refused(response.status_code, "the answer is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(response.status_code, "the answer is not a JSON object")
    return data


def _detail(response: httpx.Response) -> str:
    """A problem's detail, or the status line: what the ledger said, never what was sent."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail)[:300] if detail else response.reason_phrase


def _b64(text: object, what: str) -> bytes:
    try:
        return base64.b64decode(text if isinstance(text, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"{what} is not standard base64") from None
