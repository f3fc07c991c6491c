"""The record payload, version 1 (SPEC section 2), and the Record aggregate that holds its envelope.

A record asks for a handful of fields and free text, never a tick-box form. Validation is strict and
says exactly which field is wrong, because an agency's integrator reads these messages. The Record
aggregate keeps the DSSE envelope strings exactly as received; everything else is derived from them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from domain.agencies import check_agency_id, name_uuid
from domain.councils import check_council_code
from domain.errors import InvalidPayload, MalformedRequest
from domain.identifiers import MAX_NAME, ChildIdentifiers, parse_identifiers, refuse_nulls
from domain.jsonstrict import parse_json
from domain.statutory import STATUTORY_CATEGORIES
from domain.text import check_printable, check_reference, check_text, shown_name
from domain.times import Moment, parse_time

RECORD_TYPES = ("concern", "amendment", "retraction", "identity_link")
CATEGORIES = (
    "physical_injury", "neglect", "domestic_abuse", "sexual_harm", "emotional_harm",
    "was_not_brought", "school_absence", "household_change", "missing_episode",
    "parental_substance_misuse", "parental_mental_health", "routine_contact", "other",
) + STATUTORY_CATEGORIES  # fmt: skip
# Statutory events (strategy discussion ... looked after end, domain/statutory.py) came later: every
# version 1 record stays valid. Category names fit the read models' 32 characters.
FIELDS = {
    "agency", "record_id", "type", "subject", "occurred_at", "category", "summary",
    "action_taken", "author", "local_authority", "amends", "same_child", "occurred_at_approximate",
}  # fmt: skip
_REQUIRED = {
    "concern": ("subject", "occurred_at", "category", "summary"),
    "amendment": ("subject", "occurred_at", "category", "summary", "amends"),
    "retraction": ("summary", "amends"),
    "identity_link": ("same_child",),
}
# same_child means something only in an identity_link; amends only in an amendment or a retraction.
_FORBIDDEN = {
    "concern": ("amends", "same_child"),
    "amendment": ("same_child",),
    "retraction": ("same_child",),
    "identity_link": ("amends",),
}
_ARTICLE = {"concern": "a", "amendment": "an", "retraction": "a", "identity_link": "an"}
_CATEGORY_SET = frozenset(CATEGORIES)
MAX_TEXT = 4000
MAX_SAME_CHILD = 20
RECORD_NAMESPACE = uuid.UUID("6f1c1b7e-3d0a-5b8e-9a51-4f6c2b9d7e10")


#: When something happened, keeping its precision: a whole day, or an instant with its offset.
OccurredAt = Moment


@dataclass(frozen=True, slots=True)
class RecordPayload:
    """A validated record payload; see SPEC section 2 for each field's meaning."""

    agency: str
    record_id: str
    type: str
    subject: ChildIdentifiers | None = None
    occurred_at: OccurredAt | None = None
    occurred_at_approximate: bool = False  # the agency knows only roughly when (shown "about <date>")
    category: str | None = None
    summary: str | None = None
    action_taken: str | None = None
    author_role: str | None = None
    author_name: str | None = None
    local_authority: str | None = None
    amends: str | None = None
    same_child: tuple[ChildIdentifiers, ...] = ()


def record_aggregate_id(agency: str, record_id: str) -> uuid.UUID:
    """The Record aggregate id: uuid5 of ``(agency, record_id)``, so a repeat lands on the same id."""
    return name_uuid(RECORD_NAMESPACE, f"{agency}\x1f{record_id}")


def parse_occurred_at(value: object) -> OccurredAt:
    """RFC 3339 date-time with offset, or a date alone (sorted at the start of its day, UTC)."""
    return parse_time(value, "occurred_at", allow_date=True, error=InvalidPayload)


def peek_agency(payload: bytes) -> tuple[dict, str]:
    """Decode the payload as a JSON object and return it with its ``agency``, to find the signing keys
    before validating everything else. Parsed by the one strict parser (domain/jsonstrict): the
    signed bytes must mean one thing to every reader. Nesting beyond its limit is a 400."""
    data = parse_json(payload, what="the payload", error=InvalidPayload, deep_error=MalformedRequest)
    if not isinstance(data, dict):
        raise InvalidPayload("the payload must be a JSON object")
    return data, check_agency_id(data.get("agency"), "agency")


def parse_payload(data: dict) -> RecordPayload:
    """Validate a decoded payload object against the version 1 schema; unknown fields are refused.

    A field is either given with a value of its type or left out; ``null`` is refused, so a record
    never says two different things about whether it has a field.
    """
    if not isinstance(data, dict):
        raise InvalidPayload("the payload must be a JSON object")
    if not data.keys() <= FIELDS:
        raise InvalidPayload(f"unknown fields: {', '.join(sorted(shown_name(k) for k in data.keys() - FIELDS))}")
    refuse_nulls(data)
    agency = check_agency_id(data.get("agency"), "agency")
    record_id = check_reference(data.get("record_id"), "record_id")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _REQUIRED:
        raise InvalidPayload(f"type must be one of {', '.join(RECORD_TYPES)}")
    missing = [name for name in _REQUIRED[kind] if name not in data]
    if missing:
        raise InvalidPayload(f"{_ARTICLE[kind]} {kind} needs {', '.join(missing)}")
    forbidden = [name for name in _FORBIDDEN[kind] if name in data]
    if forbidden:
        raise InvalidPayload(f"{_ARTICLE[kind]} {kind} may not have {', '.join(forbidden)}")
    approximate = data.get("occurred_at_approximate", False)
    if not isinstance(approximate, bool):
        raise InvalidPayload("occurred_at_approximate must be true or false")
    if "occurred_at_approximate" in data and "occurred_at" not in data:
        raise InvalidPayload("occurred_at_approximate needs occurred_at")
    category = data.get("category")
    if category is not None and (not isinstance(category, str) or category not in _CATEGORY_SET):
        raise InvalidPayload(f"category must be one of {', '.join(CATEGORIES)}")
    author = data.get("author", {})
    if "author" in data and (not isinstance(author, dict) or not author or not author.keys() <= {"role", "name"}):
        raise InvalidPayload("author must be an object with role and/or name")
    if isinstance(author, dict):
        refuse_nulls(author, "author")
    local_authority = data.get("local_authority")
    if local_authority is not None:
        check_council_code(local_authority, "local_authority")
    same_child = data.get("same_child", ())
    if "same_child" in data and (not isinstance(same_child, list) or not 2 <= len(same_child) <= MAX_SAME_CHILD):
        raise InvalidPayload(f"same_child must be a list of 2 to {MAX_SAME_CHILD} identifier objects")

    def text(name: str) -> str | None:
        return None if name not in data else check_text(data[name], name, MAX_TEXT)

    return RecordPayload(
        agency=agency,
        record_id=record_id,
        type=kind,
        subject=None if "subject" not in data else parse_identifiers(data["subject"], "subject", agency),
        occurred_at=None if "occurred_at" not in data else parse_occurred_at(data["occurred_at"]),
        occurred_at_approximate=approximate,
        category=category,
        summary=text("summary"),
        action_taken=text("action_taken"),
        author_role=None if "role" not in author else check_printable(author["role"], "author.role", MAX_NAME),
        author_name=None if "name" not in author else check_printable(author["name"], "author.name", MAX_NAME),
        local_authority=local_authority,
        amends=None if "amends" not in data else check_reference(data["amends"], "amends"),
        same_child=tuple(
            parse_identifiers(item, f"same_child[{i}]", agency, allow_agency=True) for i, item in enumerate(same_child)
        ),
    )


class Record(Aggregate):
    """One agency record: its envelope strings exactly as received and the key that verified them."""

    TOPIC = "safeguarding-ledger:Record"

    class Created(Aggregate.Created):  # eventsourcing defines it on every aggregate; never emitted
        TOPIC = "safeguarding-ledger:Record.Created"

    class Recorded(Aggregate.Created):
        """The ledger accepted a signed record; ``timestamp`` is its ``recorded_at``."""

        TOPIC = "safeguarding-ledger:Record.Recorded.v1"
        ENTRY_KIND = "record"

        agency: str
        record_id: str
        payload_type: str
        payload: str
        signatures: list[dict]
        keyid: str

        def entry_fields(self) -> dict:
            envelope = {"payloadType": self.payload_type, "payload": self.payload, "signatures": self.signatures}
            return {"agency": self.agency, "record_id": self.record_id, "keyid": self.keyid, "envelope": envelope}

    @staticmethod
    def create_id(agency: str, record_id: str, **_: object) -> uuid.UUID:
        return record_aggregate_id(agency, record_id)

    @classmethod
    def recorded(
        cls, agency: str, record_id: str, payload_type: str, payload: str, signatures: list[dict], keyid: str
    ) -> Record.Recorded:
        """The one event of a new record, exactly what ``Record(...)`` would emit, made directly.

        The ledger appends these events without building an aggregate per envelope: for a batch that
        cost more than checking the signatures did. Reading a record back still gives a Record.
        """
        return cls.Recorded(
            originator_id=record_aggregate_id(agency, record_id),
            originator_version=1,
            timestamp=cls.Recorded.create_timestamp(),
            originator_topic=get_topic(cls),
            agency=agency,
            record_id=record_id,
            payload_type=payload_type,
            payload=payload,
            signatures=signatures,
            keyid=keyid,
        )

    @event(Recorded)
    def __init__(
        self, agency: str, record_id: str, payload_type: str, payload: str, signatures: list[dict], keyid: str
    ) -> None:
        self.agency = agency
        self.record_id = record_id
        self.payload_type = payload_type
        self.payload = payload
        self.signatures = signatures
        self.keyid = keyid

