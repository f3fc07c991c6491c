"""The ledger's error hierarchy: one base, a few leaves, each naming what the caller did wrong.

The API maps each leaf to one RFC 9457 problem type in a single handler and the CLI catches the
base once, so adding a leaf here is the only place a new kind of refusal is introduced.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every refusal the ledger makes on purpose; the message is safe to show a caller."""

    #: A stable, short slug used to build the problem ``type`` URI.
    slug = "ledger-error"


class MalformedEnvelope(LedgerError):
    """The input is not a DSSE envelope at all: not JSON, missing or extra fields, bad base64."""

    slug = "malformed-envelope"


class SignatureRejected(LedgerError):
    """A well-formed envelope whose signature or signing key is refused."""

    slug = "signature-rejected"


class InvalidPayload(LedgerError):
    """A correctly signed envelope whose record payload breaks the payload schema or its rules."""

    slug = "invalid-payload"


class WrongAgency(LedgerError):
    """The caller may not act for the agency named in the record."""

    slug = "wrong-agency"


class Forbidden(LedgerError):
    """The caller's role or scope does not allow this operation (403)."""

    slug = "forbidden"


class TooLarge(LedgerError):
    """A request holds more than the ledger takes at once (413): an envelope or a batch too big."""

    slug = "payload-too-large"


class RecordConflict(LedgerError):
    """``(agency, record_id)`` is already recorded with different bytes; records are never replaced."""

    slug = "record-conflict"


class NotFound(LedgerError):
    """The named agency, key, record or child does not exist."""

    slug = "not-found"


class AlreadyExists(LedgerError):
    """The agency or key being registered is registered already."""

    slug = "already-exists"


class MalformedRequest(LedgerError):
    """A question the ledger cannot take as asked: a bad query parameter or form field, JSON nested
    too deep, text holding characters no record may hold, a time outside UTC's range (400)."""

    slug = "malformed-request"


class InvalidKey(LedgerError):
    """A key file or PEM text that is not an Ed25519 key the ledger can use (400): an administrator's
    or a signer's mistake, not an envelope's."""

    slug = "invalid-key"


class Unavailable(LedgerError):
    """The ledger cannot answer now (its database is unreachable, or it keeps refusing a write);
    worth a retry later (503 with Retry-After). Nothing was stored by the refused request."""

    slug = "unavailable"


class ReadModelStalled(Unavailable):
    """A read model could not take an entry the log holds. The log keeps it; the read model stops at
    it and the ledger says so (503, ``ledger status``) until a fix and a restart or rebuild."""

    slug = "read-model-stalled"

    def __init__(self, read_model: str, position: int, error: str):
        super().__init__(f"read model {read_model} cannot take log entry at position {position}: {error}")
        self.read_model = read_model
        self.position = position
        self.error = error


class ProofError(LedgerError):
    """A Merkle proof, root or checkpoint does not verify; carries what was expected and computed."""

    slug = "proof-failed"

    def __init__(self, message: str, expected: bytes | None = None, calculated: bytes | None = None):
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated


class IntegrityFailure(LedgerError):
    """Verification of the log found a leaf that does not check; ``leaf_index`` names the first."""

    slug = "integrity-failure"

    def __init__(self, leaf_index: int, reason: str):
        super().__init__(f"leaf {leaf_index}: {reason}")
        self.leaf_index = leaf_index
        self.reason = reason
