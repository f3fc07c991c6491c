"""One child's evidence bundle on both backends (issue 14, item 1): it verifies offline, holds every
entry about the child and nothing of an unrelated child, honours as_of, and any altered byte fails.

The case: Riley Hart (tests/fictional_case.py ``school_case``: police, health and school records
joined by social care's identity link) and Jordan Vale, an unrelated child of the same agencies,
with a practitioner's link, a decision on Riley's prompt, and inquiries' lookups of both.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.tokens import Principal
from api.usecases.children import ChildSelector, Look
from domain.checkpoint import parse_vkey
from domain.child_bundle import BundleLeaf, BundleProblem, ChildBundle, parse_bundle, verify_child_bundle
from domain.errors import Forbidden, IntegrityFailure, NotFound
from tests.fictional_case import HEALTH, NHS, POLICE, SCHOOL, UPN, agencies, concern, school_case  # noqa: F401
from tests.log_entries import mentions

INQUIRY = Principal(token_id="1a2b3c4d5e6f7081", role="inquiry", holder="Review Panel (fictional)")
PRACTITIONER = Principal(token_id="0f1e2d3c4b5a6978", role="practitioner", local_authority="309",
                         holder="Sam Example (fictional)")  # fmt: skip
#: The unrelated child: every identifier and name of it, which no bundle of Riley's may hold.
JORDAN = {"nhs": NHS[1], "upn": UPN[1], "local": "NP-P-90417", "given": "Jordan", "family": "Vale",
          "dob": "2019-02-02", "postcode": "NS9 9ZZ"}  # fmt: skip


def jordan_records() -> list[dict]:
    subject = {"given_name": JORDAN["given"], "family_name": JORDAN["family"], "date_of_birth": JORDAN["dob"],
               "postcode": JORDAN["postcode"]}  # fmt: skip
    return [
        concern(HEALTH, "ED-90001", {"nhs_number": JORDAN["nhs"], **subject}, "2026-02-01", "neglect",
                local_authority="309"),
        concern(SCHOOL, "OAK-2026-90", {"upn": JORDAN["upn"], **subject}, "2026-02-03", "neglect",
                local_authority="309"),
        concern(POLICE, "NP-24-9001", {"local_id": JORDAN["local"], **subject}, "2026-02-04", "neglect",
                local_authority="309"),
    ]  # fmt: skip


def build_case(services, agencies) -> dict:
    """Both children, a practitioner's link of Jordan's identifiers, a decision on Riley's first
    prompt, and an inquiry's look at each; returns the moment between Riley's first records and the rest."""
    agencies.submit(*jordan_records())
    practitioners = services.practitioners
    practitioners.link(PRACTITIONER, [{"nhs_number": JORDAN["nhs"]}, {"upn": JORDAN["upn"]}], "Fictional: same child.")
    school_case(agencies, link=False)
    services.runner.catch_up()
    between = datetime.now(timezone.utc)
    school_case_link(agencies)
    services.runner.catch_up()
    riley = ChildSelector(nhs_number=NHS[0])
    risk = practitioners.risk(PRACTITIONER, Look(riley))
    prompt = risk["prompts"][0]["prompt_id"]
    practitioners.decide(PRACTITIONER, risk["child"]["id"], prompt, "acknowledged", "Fictional: seen.")
    practitioners.chronology(INQUIRY, Look(riley))
    practitioners.chronology(INQUIRY, Look(ChildSelector(nhs_number=JORDAN["nhs"])))
    services.runner.catch_up()
    return {"between": between, "riley": risk["child"]["id"]}


def school_case_link(agencies) -> None:
    from tests.fictional_case import SOCIAL_CARE, identity_link

    agencies.submit(identity_link(SOCIAL_CARE, "MASH-2026-0042", [
        {"nhs_number": NHS[0]}, {"upn": UPN[0]}, {"agency": POLICE, "local_id": "NP-P-58812"}]))  # fmt: skip


def plain_text(bundle: ChildBundle) -> str:
    """Every byte of the bundle as text, with each entry and each record's payload decoded too."""
    parts = [json.dumps(bundle.as_json())]
    for leaf in bundle.leaves:
        entry = json.loads(leaf.entry)
        parts.append(leaf.entry.decode("utf-8"))
        if entry["kind"] == "record":
            parts.append(base64.b64decode(entry["envelope"]["payload"]).decode("utf-8"))
    return "\n".join(parts)


def kinds(bundle: ChildBundle) -> list[str]:
    return [json.loads(leaf.entry)["kind"] for leaf in bundle.leaves]


def verifier(services):
    return parse_vkey(services.signer.vkey)


def test_the_bundle_of_one_child_verifies_and_holds_nothing_of_the_other(services, agencies):
    case = build_case(services, agencies)
    bundle = services.inquiry.child_bundle(INQUIRY, ChildSelector(upn=UPN[0]))
    result = verify_child_bundle(bundle, verifier(services))
    assert result.child == case["riley"] == bundle.manifest["child"]["id"]
    text = plain_text(bundle)
    for value in JORDAN.values():
        assert not mentions(text, value), value
    assert "Riley" in text and NHS[0] in text  # the check can fail: the child's own data is there
    found = kinds(bundle)
    assert found.count("record") == 4  # police, health, school and the identity link
    assert {"prompt_decision", "access", "agency_registered", "key_added"} <= set(found)
    assert "identity_linked" not in found  # the practitioner's link was Jordan's
    last = json.loads(bundle.leaves[-1].entry)  # the bundle's own access entry, covered by its checkpoint
    assert (last["kind"], last["read"], last["child"], last["holder"]) == ("access", "export", case["riley"],
                                                                          INQUIRY.holder)  # fmt: skip
    assert last["query"] == {"upn": UPN[0]}
    assert bundle.manifest["checkpoint"]["size"] > bundle.leaves[-1].index
    assert parse_bundle(json.loads(json.dumps(bundle.as_json()))) == bundle


def test_the_other_childs_bundle_has_its_link_and_none_of_riley(services, agencies):
    build_case(services, agencies)
    bundle = services.inquiry.child_bundle(INQUIRY, ChildSelector(nhs_number=JORDAN["nhs"]))
    verify_child_bundle(bundle, verifier(services))
    found = kinds(bundle)
    assert found.count("record") == 2 and "identity_linked" in found and "prompt_decision" not in found
    text = plain_text(bundle)
    for value in (NHS[0], UPN[0], "NP-P-58812", "Riley", "Hart", "NS1 4QT"):
        assert not mentions(text, value), value


def test_an_as_of_bundle_leaves_out_what_was_recorded_later(services, agencies):
    case = build_case(services, agencies)
    bundle = services.inquiry.child_bundle(INQUIRY, ChildSelector(nhs_number=NHS[0]), case["between"])
    verify_child_bundle(bundle, verifier(services))
    assert bundle.manifest["as_of"] is not None
    assert kinds(bundle).count("record") == 1  # before the identity link, the NHS number named only health's
    assert "prompt_decision" not in kinds(bundle) and "access" not in kinds(bundle)
    assert bundle.manifest["child"]["identifiers"] == [{"nhs_number": NHS[0]}]
    assert "MASH-2026-0042" not in plain_text(bundle)


def test_only_an_inquiry_may_produce_a_bundle_and_an_unknown_child_is_logged_as_not_found(services, agencies):
    build_case(services, agencies)
    with pytest.raises(Forbidden):
        services.inquiry.child_bundle(PRACTITIONER, ChildSelector(nhs_number=NHS[0]))
    before = services.ledger.recorder.max_notification_id()
    with pytest.raises(NotFound):
        services.inquiry.child_bundle(INQUIRY, ChildSelector(nhs_number="9999999999"))
    assert services.ledger.recorder.max_notification_id() == before + 1  # the look is on the record


def _tampered(bundle: ChildBundle, position: int, **changes) -> ChildBundle:
    leaves = list(bundle.leaves)
    leaves[position] = replace(leaves[position], **changes)
    return replace(bundle, leaves=leaves)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_any_altered_byte_fails_verification(services, agencies):
    build_case(services, agencies)
    bundle = services.inquiry.child_bundle(INQUIRY, ChildSelector(nhs_number=NHS[0]))
    key = verifier(services)
    record = next(i for i, leaf in enumerate(bundle.leaves) if json.loads(leaf.entry)["kind"] == "record")
    leaf = bundle.leaves[record]
    for altered in (
        _tampered(bundle, record, entry=_flip(leaf.entry, len(leaf.entry) // 2)),
        _tampered(bundle, record, leaf_hash=_flip(leaf.leaf_hash, 5)),
        _tampered(bundle, record, proof=(_flip(leaf.proof[0], 0), *leaf.proof[1:])),
        _tampered(bundle, record, proof=leaf.proof[:-1]),
    ):
        with pytest.raises(IntegrityFailure) as failure:
            verify_child_bundle(altered, key)
        assert failure.value.leaf_index == leaf.index
    note = bundle.checkpoint
    for checkpoint in (note.replace("\n", "\n\n", 1), note[:-10] + "A" * 9 + "\n", _flip_text(note)):
        with pytest.raises(BundleProblem):
            verify_child_bundle(replace(bundle, checkpoint=checkpoint), key)
    dropped = replace(bundle, leaves=bundle.leaves[1:])
    with pytest.raises(BundleProblem):
        verify_child_bundle(dropped, key)


def _flip_text(note: str) -> str:
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    return "\n".join(lines)


def test_another_childs_entry_with_a_valid_proof_is_refused(services, agencies):
    build_case(services, agencies)
    riley = services.inquiry.child_bundle(INQUIRY, ChildSelector(nhs_number=NHS[0]))
    jordan = services.inquiry.child_bundle(INQUIRY, ChildSelector(nhs_number=JORDAN["nhs"]))
    size = riley.manifest["checkpoint"]["size"]
    # Jordan's record, proved against Riley's checkpoint: genuine, in the log, and not Riley's.
    stranger = next(leaf for leaf in jordan.leaves if json.loads(leaf.entry)["kind"] == "record")
    with services.reader.connect() as conn:
        from projections.checkpoints import inclusion_proof

        proof = tuple(inclusion_proof(conn, stranger.index, size).proof)
    leaves = sorted([*riley.leaves, BundleLeaf(stranger.index, stranger.entry, stranger.leaf_hash, proof)],
                    key=lambda leaf: leaf.index)  # fmt: skip
    manifest = {**riley.manifest, "leaves": [leaf.index for leaf in leaves]}
    with pytest.raises(IntegrityFailure, match="not about child") as failure:
        verify_child_bundle(ChildBundle(manifest, leaves, riley.checkpoint, riley.vkey), verifier(services))
    assert failure.value.leaf_index == stranger.index
    other_child = {**riley.manifest, "child": jordan.manifest["child"]}
    with pytest.raises(IntegrityFailure, match="not about child"):
        verify_child_bundle(replace(riley, manifest=other_child), verifier(services))


@st.composite
def alterations(draw, bundle: ChildBundle):
    """One byte of one entry, leaf hash, proof hash or the checkpoint note, changed."""
    where = draw(st.sampled_from(["entry", "leaf_hash", "proof", "checkpoint"]))
    mask = draw(st.integers(1, 255))
    if where == "checkpoint":
        note = bundle.checkpoint.encode()
        at = draw(st.integers(0, len(note) - 1))
        changed = note[:at] + bytes([note[at] ^ mask]) + note[at + 1 :]
        return replace(bundle, checkpoint=changed.decode("utf-8", "replace"))
    position = draw(st.integers(0, len(bundle.leaves) - 1))
    leaf = bundle.leaves[position]
    if where == "proof":
        if not leaf.proof:
            return replace(bundle, checkpoint=bundle.checkpoint + "x")
        node = draw(st.integers(0, len(leaf.proof) - 1))
        at = draw(st.integers(0, 31))
        proof = list(leaf.proof)
        proof[node] = proof[node][:at] + bytes([proof[node][at] ^ mask]) + proof[node][at + 1 :]
        return _tampered(bundle, position, proof=tuple(proof))
    data = getattr(leaf, where)
    at = draw(st.integers(0, len(data) - 1))
    return _tampered(bundle, position, **{where: data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]})


def test_every_single_byte_change_is_caught(services, agencies):
    build_case(services, agencies)
    bundle = services.inquiry.child_bundle(INQUIRY, ChildSelector(nhs_number=NHS[0]))
    key = verifier(services)
    verify_child_bundle(bundle, key)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(alterations(bundle))
    def check(altered: ChildBundle) -> None:
        with pytest.raises((IntegrityFailure, BundleProblem)):
            verify_child_bundle(altered, key)

    check()
