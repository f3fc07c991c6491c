"""The verifiable log for anyone authenticated: checkpoint (with witness cosignatures), verifier key
and its rotations, inclusion and consistency proofs, witnesses and their cosignatures (SPEC sections
3 and 4), and receipt bundles for agencies and inquiries.

These reveal hashes and sizes, never record content, so every role may ask: an agency checks its
receipts, an inquiry checks the log, a practitioner's tool checks what it was shown, a witness
cosigns. The entries themselves are for inquiries (api/routers/inquiry.py).
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from api import problems
from api.deps import AnyPrincipal, RequestBody, ServicesDep, allowed_to
from api.tokens import Principal
from domain.errors import MalformedRequest

router = APIRouter(prefix="/v1/log", tags=["log"])
receipts_router = APIRouter(prefix="/v1", tags=["log"])
ReceiptPrincipal = Annotated[Principal, Depends(allowed_to("read_receipt"))]

EXAMPLE_CHECKPOINT = (
    "safeguarding-ledger.example/log\n42\nLXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=\n\n"
    "\u2014 safeguarding-ledger.example/log "
    "cnwbnZtTzI9E5eQa6X5jPdMzi48ScjrkE1M0yglyb5kyqFlD7UIJdUXINJ7kon0BKSCDGOoon3Pmogou91hWhGOw+A8=\n"
)
EXAMPLE_VKEY = "safeguarding-ledger.example/log+727c1b9d+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4\n"
MAX_INDEX = 2**63 - 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class InclusionProofOut(BaseModel):
    """RFC 9162 section 2.1.3 inclusion proof of leaf ``index`` in the tree of ``size``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 41,
                    "size": 42,
                    "leaf_hash": "dSdy2kTfuxBAgp24jsWuWSfYOqqVdSxqoYxybxQSgyA=",
                    "proof": ["qGAykTyFsLVm0ze7lZqdPDz6aTUyYjHa7mTZZfrdckE="],
                }
            ]
        }
    )

    index: int = Field(ge=0)
    size: int = Field(ge=1)
    leaf_hash: str = Field(description="standard base64")
    proof: list[str] = Field(description="standard base64 hashes, leaf to root")


class ConsistencyProofOut(BaseModel):
    """RFC 9162 section 2.1.4 proof that the tree of ``from`` is a prefix of the tree of ``to``."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"from": 10, "to": 42, "proof": ["qGAykTyFsLVm0ze7lZqdPDz6aTUyYjHa7mTZZfrdckE="]}]
        },
    )

    from_: int = Field(alias="from", ge=0)
    to: int = Field(ge=0)
    proof: list[str] = Field(description="standard base64 hashes")


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "a C2SP tlog-checkpoint signed note",
            "content": {"text/plain": {"schema": {"type": "string"}, "example": EXAMPLE_CHECKPOINT}},
        },
        **problems.responses(401),
    },
)
def get_checkpoint(principal: AnyPrincipal, services: ServicesDep) -> PlainTextResponse:
    """The latest signed checkpoint, covering every entry whose receipt was issued before this request
    (and every access entry, decision or link appended before it too)."""
    return PlainTextResponse(services.log.checkpoint(principal).note)


@router.get(
    "/key",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "the checkpoint verifier key, C2SP vkey format",
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": EXAMPLE_VKEY,
                }
            },
        },
        **problems.responses(401),
    },
)
def get_key(principal: AnyPrincipal, services: ServicesDep) -> PlainTextResponse:
    """The verifier key of the ledger's checkpoints."""
    return PlainTextResponse(services.log.verifier_key(principal) + "\n")


@router.get("/proof/inclusion", response_model=InclusionProofOut, responses=problems.responses(400, 401, 404))
def get_inclusion_proof(
    principal: AnyPrincipal,
    services: ServicesDep,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX, description="leaf index", examples=[41])],
    size: Annotated[int, Query(ge=1, le=MAX_INDEX, description="tree size, at most the log's", examples=[42])],
) -> dict:
    """The audit path of leaf ``index`` in the tree of ``size`` (404 beyond the tree)."""
    proof = services.log.inclusion(principal, index, size)
    return {
        "index": proof.index,
        "size": proof.size,
        "leaf_hash": _b64(proof.leaf_hash),
        "proof": [_b64(node) for node in proof.proof],
    }


@router.get(
    "/proof/consistency",
    response_model=ConsistencyProofOut,
    response_model_by_alias=True,
    responses=problems.responses(400, 401, 404),
)
def get_consistency_proof(
    principal: AnyPrincipal,
    services: ServicesDep,
    size1: Annotated[int, Query(alias="from", ge=0, le=MAX_INDEX, description="the older tree size", examples=[10])],
    size2: Annotated[int, Query(alias="to", ge=0, le=MAX_INDEX, description="the newer tree size", examples=[42])],
) -> dict:
    """The proof that the tree of ``from`` entries is a prefix of the tree of ``to`` (404 beyond the tree)."""
    proof = services.log.consistency(principal, size1, size2)
    return {"from": proof.size1, "to": proof.size2, "proof": [_b64(node) for node in proof.proof]}


@router.get("/keys", responses={200: {"content": {"application/json": {"example": [
    {"index": 57, "old_vkey": EXAMPLE_VKEY.strip(), "new_vkey": EXAMPLE_VKEY.strip(),
     "statement": "(a signed note by both keys)"}]}}}, **problems.responses(401)})
def get_key_history(principal: AnyPrincipal, services: ServicesDep) -> list[dict]:
    """Every rotation of the checkpoint key, oldest first: ``{"index", "old_vkey", "new_vkey",
    "statement"}``, the statement a signed note by both keys (docs/log-format.md). Empty until the
    first rotation. A holder of an older vkey follows the chain to the one in force."""
    return services.log.key_history(principal)


@router.get("/witnesses", responses={200: {"content": {"application/json": {"example": [
    {"name": "witness.example/northshire-health", "vkey": "witness.example/northshire-health+9f1c2d3e+AQ..."}]}}},
    **problems.responses(401)})
def get_witnesses(principal: AnyPrincipal, services: ServicesDep) -> list[dict]:
    """The witnesses whose cosignatures this ledger keeps and serves: ``{"name", "vkey"}``. A
    client trusts the witnesses it configured itself; this list only says who is expected."""
    return [{"name": w.name, "vkey": w.vkey} for w in services.log.list_witnesses(principal)]


@router.post(
    "/cosignatures",
    responses={
        200: {"content": {"application/json": {"example": {"size": 42, "witnesses": ["witness.example/w1"]}}}},
        **problems.responses(400, 401, 404, 422),
    },
    openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}, "required": True}},
)
def post_cosignatures(principal: AnyPrincipal, services: ServicesDep, body: RequestBody) -> dict:
    """A witness hands in its cosignature (C2SP tlog-cosignature, Ed25519 ``cosignature/v1``): the
    body is a checkpoint this ledger signed, as a signed note with the witness's signature line
    appended. 200 with the witnesses whose lines were kept; 404 when the ledger signed no such
    checkpoint; 422 when no line verifies with a registered witness's key."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the body is not UTF-8 text") from None
    return services.log.add_cosignatures(principal, text)


@receipts_router.get("/receipts", responses={200: {"content": {"application/json": {"example": {
    "receipt": {"agency": "northshire-police", "record_id": "NP-2026-000123", "leaf_index": 41,
                "leaf_hash": "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "recorded_at": "2026-03-01T10:02:11.123456Z"},
    "entry": "(base64 entry bytes)", "vkey": EXAMPLE_VKEY.strip(), "proof": "(a C2SP tlog-proof)"}}}},
    **problems.responses(400, 401, 403, 404)})
def get_receipt_bundle(
    principal: ReceiptPrincipal,
    services: ServicesDep,
    leaf_index: Annotated[int, Query(ge=0, le=MAX_INDEX, description="the record's leaf index", examples=[41])],
) -> dict:
    """A receipt bundle that stands alone: the receipt, its entry bytes, the log's vkey and a C2SP
    tlog-proof (inclusion proof and the signed, cosigned checkpoint it is proved against), for
    ``ledger receipt verify`` or any RFC 9162 and C2SP verifier. An agency gets its own records
    only (any other leaf is 404); an inquiry any record."""
    return services.log.receipt(principal, leaf_index)
