"""The record payload (SPEC section 2) as a JSON Schema (draft 2020-12), made from the validator's
own rules, so an integrator can check records before signing them.

Every list in it (fields, record types, categories, which fields each type needs and may not have,
identifier fields, lengths and patterns) is read from the constants domain/records.py and
domain/identifiers.py validate with; nothing is listed twice. What a schema cannot say is left to
the ledger and said in descriptions: NHS Modulus 11 and UPN check characters, real calendar dates,
the full "printable" rule of domain/text.py. So the schema accepts every record the ledger accepts
(tests/e2e/test_record_schema.py checks that), and refuses most that it refuses. The schema is written
without ``$ref``, so it can be embedded anywhere (the OpenAPI document does) as it is.
"""

from __future__ import annotations

from domain import identifiers, records
from domain.agencies import AGENCY_ID_PATTERN
from domain.councils import COUNCIL_CODE_PATTERN
from domain.envelope import PAYLOAD_TYPE

SCHEMA_ID = "https://safeguarding-ledger.example/v1/schema/record.v1.json"
MAX_REFERENCE = 128

# JSON Schema patterns are ECMA-262; these escapes mean the same there and in Python's re.
_FREE_TEXT = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
_ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATE_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"


def _line(max_length: int, about: str) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": _ONE_LINE,
            "description": f"{about}; printable characters only"}  # fmt: skip


def _date(about: str) -> dict:
    return {"type": "string", "pattern": _DATE, "description": f"{about}: a calendar date, YYYY-MM-DD"}


def _identifier_fields() -> dict[str, dict]:
    name = _line(identifiers.MAX_NAME, "a name")
    fields = {
        "nhs_number": {"type": "string", "pattern": f"^{identifiers._NHS_FORM.pattern}$",
                       "description": "10 digits with a valid Modulus 11 check digit (the ledger checks it)"},
        "upn": {"type": "string", "pattern": f"^{identifiers._UPN_FORM.pattern}$",
                "description": "Unique Pupil Number: 13 characters with a valid check letter (the ledger checks it)"},
        "local_id": _line(MAX_REFERENCE, "the agency's own reference for the child"),
        "given_name": name,
        "family_name": name,
        "date_of_birth": _date("date of birth"),
        "postcode": _line(identifiers.MAX_POSTCODE, "postcode"),
        "aliases": {"type": "array", "maxItems": identifiers.MAX_ALIASES, "items": name},
    }  # fmt: skip
    _require_same(fields, identifiers._ALLOWED, "identifier")
    return fields


def identifier_schema(with_agency: bool = False) -> dict:
    """An identifier object: at least one strong identifier, only the known fields."""
    properties = _identifier_fields()
    if with_agency:
        properties["agency"] = {"type": "string", "pattern": AGENCY_ID_PATTERN,
                                "description": "whose local_id this is (default: the submitting agency)"}  # fmt: skip
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "anyOf": [{"required": [strong]} for strong in identifiers._STRONG],
    }


def _record_fields() -> dict[str, dict]:
    fields = {
        "agency": {"type": "string", "pattern": AGENCY_ID_PATTERN,
                   "description": "the registered agency id; the agency of the signing key"},
        "record_id": _line(MAX_REFERENCE, "the agency's own id, unique within the agency"),
        "type": {"enum": list(records.RECORD_TYPES)},
        "subject": {**identifier_schema(), "description": "the child"},
        "occurred_at": {"anyOf": [{"type": "string", "pattern": _DATE_TIME}, {"type": "string", "pattern": _DATE}],
                        "description": "RFC 3339 date-time with an offset, or a date where only the day is known"},
        "occurred_at_approximate": {"type": "boolean", "description": "true when the agency knows only roughly "
                                    "when it happened (shown as about that date); needs occurred_at"},
        "category": {"enum": list(records.CATEGORIES)},
        "summary": {"type": "string", "minLength": 1, "maxLength": records.MAX_TEXT, "pattern": _FREE_TEXT,
                    "description": "the facts and the child's own words; for a retraction, the reason"},
        "action_taken": {"type": "string", "minLength": 1, "maxLength": records.MAX_TEXT, "pattern": _FREE_TEXT,
                         "description": "what the agency did, or why it did nothing"},
        "author": {"type": "object", "minProperties": 1, "additionalProperties": False,
                   "properties": {"role": _line(identifiers.MAX_NAME, "role"),
                                  "name": _line(identifiers.MAX_NAME, "name")}},
        "local_authority": {"type": "string", "pattern": COUNCIL_CODE_PATTERN,
                            "description": "the council where the child lives; one its agency serves"},
        "amends": _line(MAX_REFERENCE, "the record_id of an earlier record of the same agency"),
        "same_child": {"type": "array", "minItems": 2, "maxItems": records.MAX_SAME_CHILD,
                       "items": identifier_schema(with_agency=True),
                       "description": "identifier objects asserted to be one child"},
    }  # fmt: skip
    _require_same(fields, records.FIELDS, "record")
    return fields


def record_schema() -> dict:
    """The JSON Schema of a version 1 record payload."""
    by_type = []
    for kind in records.RECORD_TYPES:
        rule: dict = {"required": list(records._REQUIRED[kind])}
        if records._FORBIDDEN[kind]:
            rule["not"] = {"anyOf": [{"required": [name]} for name in records._FORBIDDEN[kind]]}
        by_type.append({"if": {"properties": {"type": {"const": kind}}, "required": ["type"]}, "then": rule})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Safeguarding ledger record, version 1",
        "description": f"The payload of a DSSE envelope of type {PAYLOAD_TYPE} (SPEC section 2). A field is "
        "given with a value or left out, never null. Check digits, calendar dates and the full text rules are "
        "the ledger's to check; a record this schema accepts may still be refused for those.",
        "type": "object",
        "properties": _record_fields(),
        "required": ["agency", "record_id", "type"],
        "additionalProperties": False,
        "dependentRequired": {"occurred_at_approximate": ["occurred_at"]},
        "allOf": by_type,
    }


def _require_same(described: dict, validated: frozenset[str] | set[str], what: str) -> None:
    """The schema describes exactly the fields the validator takes: a field added to one and not the
    other fails at import, not in an integrator's hands."""
    if set(described) != set(validated):
        raise RuntimeError(f"the {what} schema and the validator disagree on {sorted(set(described) ^ set(validated))}")
