"""What practitioners send and get back (api/routers/practitioners.py), with the examples the
OpenAPI document shows: chronology, risk, decisions on prompts, identity links, possible matches;
and the DSSE envelope's schema, which records and key statements share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.deps import CHILD_PATTERN, FREE_TEXT, NHS_NUMBER, PRINTABLE_TEXT, UPN
from domain.agencies import AGENCY_ID_PATTERN

BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"


def dsse_envelope_schema(payload_type: str, description: str, payload: dict, example: dict | None) -> dict[str, Any]:
    """The JSON Schema of a DSSE v1 envelope carrying ``payload_type`` (``payload`` describes its
    payload string further). What the schema cannot say (the signature verifies) the ledger checks."""
    return {
        "type": "object",
        "description": description,
        "required": ["payloadType", "payload", "signatures"],
        "additionalProperties": False,
        "properties": {
            "payloadType": {"type": "string", "enum": [payload_type]},
            "payload": {"type": "string", "contentEncoding": "base64", "pattern": BASE64, **payload},
            "signatures": {
                "type": "array",
                "minItems": 1,
                "maxItems": 8,
                "items": {
                    "type": "object",
                    "required": ["sig"],
                    "additionalProperties": False,
                    "properties": {
                        "keyid": {
                            "type": "string",
                            "description": "optional hint (DSSE): best the hex SHA-256 of the raw Ed25519 public "
                            "key; any other, or none, makes the ledger try each current key of the agency",
                        },
                        "sig": {"type": "string", "pattern": BASE64,
                                "description": "standard base64 Ed25519 signature over PAE"},
                    },
                },
            },
        },
    } | ({} if example is None else {"example": example})  # fmt: skip


EXAMPLE_CHILD = {"id": "0f8fad5b-d9cb-569f-a165-70867728950e", "identifiers": [{"nhs_number": "9434765919"}]}


class ChildOut(BaseModel):
    id: str
    identifiers: list[dict]


class ChronologyOut(BaseModel):
    """A child's chronology in order (SPEC section 3), as known at ``as_of``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "child": EXAMPLE_CHILD,
                    "as_of": "2026-03-01T12:00:00.000000Z",
                    "entries": [
                        {
                            "record_id": "NP-2026-000123",
                            "agency": "northshire-police",
                            "type": "concern",
                            "category": "neglect",
                            "occurred_at": "2026-03-01T09:30:00+00:00",
                            "recorded_at": "2026-03-01T10:02:11.123456Z",
                            "summary": "Fictional: child seen alone at the bus stop at night.",
                            "status": "current",
                            "leaf_index": 41,
                        }
                    ],
                }
            ]
        }
    )

    child: ChildOut
    as_of: str
    entries: list[dict] = Field(description="record_id, agency, type, category, occurred_at, recorded_at, "
                                "summary, status, leaf_index, and more")  # fmt: skip


class RiskOut(BaseModel):
    """A child's risk prompts as known at ``as_of``: named rules with the records behind them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "child": EXAMPLE_CHILD,
                    "as_of": "2026-03-01T12:00:00.000000Z",
                    "prompts": [
                        {
                            "prompt_id": "7d1c5a0e-6f0b-5b59-9f64-1b2a1c3d4e5f",
                            "rule": "multi_agency_concerns",
                            "rule_version": 1,
                            "title": "Concerns from several agencies close together",
                            "why": "Each agency's fragment can look minor alone; together they may form the picture.",
                            "priority": 5,
                            "occurred_from": "2026-02-20T22:15:00+00:00",
                            "occurred_to": "2026-02-27T09:30:00+00:00",
                            "records": [
                                {"agency": "northshire-police", "record_id": "NP-2026-000123", "restricted": False},
                                {"agency": "northshire-health", "record_id": "NH-88812", "restricted": False},
                            ],
                            "raised_at": "2026-03-01T10:02:11.123456Z",
                            "state": "open",
                            "decisions": [],
                        }
                    ],
                }
            ]
        }
    )

    child: ChildOut
    as_of: str
    prompts: list[dict]


class DecisionIn(BaseModel):
    """A decision on one of a child's risk prompts, with the reason for it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "child": EXAMPLE_CHILD["id"],
                    "prompt_id": "7d1c5a0e-6f0b-5b59-9f64-1b2a1c3d4e5f",
                    "decision": "escalated",
                    "reason": "Strategy discussion arranged with police and health.",
                }
            ]
        },
    )

    child: str = Field(pattern=CHILD_PATTERN)
    prompt_id: str = Field(pattern=CHILD_PATTERN)
    decision: Literal["acknowledged", "escalated", "dismissed"]
    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=FREE_TEXT)


class DecisionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision_id": "c56a4180-65aa-42ec-a945-5fd21dec0538",
                    "prompt_id": "7d1c5a0e-6f0b-5b59-9f64-1b2a1c3d4e5f",
                    "decision": "escalated",
                    "decided_at": "2026-03-01T12:05:00.000000Z",
                }
            ]
        }
    )

    decision_id: str
    prompt_id: str
    decision: str
    decided_at: str


class Identifier(BaseModel):
    """A strong identifier: an NHS number, a UPN, or an agency's ``local_id`` with that ``agency``."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str | None = Field(default=None, pattern=r"^[0-9]{10}$", json_schema_extra=NHS_NUMBER)
    upn: str | None = Field(default=None, pattern=r"^[A-Z][0-9]{11}[0-9A-Z]$", json_schema_extra=UPN)
    local_id: str | None = Field(default=None, min_length=1, max_length=128, json_schema_extra=PRINTABLE_TEXT)
    agency: str | None = Field(default=None, pattern=AGENCY_ID_PATTERN)


class LinkIn(BaseModel):
    """Identifiers a practitioner confirms are one child, and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "identifiers": [
                        {"nhs_number": "9434765919"},
                        {"agency": "northshire-police", "local_id": "NP-PERSON-5521"},
                    ],
                    "reason": "Police reference confirmed by the family's address and date of birth.",
                }
            ]
        },
    )

    identifiers: list[Identifier] = Field(min_length=2, max_length=20)
    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=FREE_TEXT)


class LinkOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"link_id": "9b2e6a1c-7d3f-4e5a-8b9c-0d1e2f3a4b5c", "recorded_at": "2026-03-01T12:07:00.000000Z",
                 "child": EXAMPLE_CHILD}  # fmt: skip
            ]
        }
    )

    link_id: str
    recorded_at: str
    child: ChildOut


class MatchesOut(BaseModel):
    """Other children who may be this one, each with reasons; suggestions for a person, never merges."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "child": EXAMPLE_CHILD,
                    "matches": [
                        {
                            "child": {"id": "4c1f7d2e-0a9b-5c8d-9e7f-6a5b4c3d2e1f",
                                      "identifiers": [{"agency": "northshire-police", "local_id": "NP-PERSON-5521"}]},
                            "similarity": 0.93,
                            "reasons": ["similar name: 'Ada Example' / 'Ada Exampel' (Jaro-Winkler 0.93)",
                                        "same date of birth"],
                        }  # fmt: skip
                    ],
                }
            ]
        }
    )

    child: ChildOut
    matches: list[dict]
