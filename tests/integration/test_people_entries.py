"""People, not tokens (SPEC 6.1), below HTTP: who acted, as the entries name them; token issue and
revoke as log entries through the write path, ordered so a failure never leaves a usable token the
log does not show; version 1 decisions and links still decode, with their entry bytes unchanged; and
``ledger verify`` accepts every new kind. Storage tests run on both backends."""

from __future__ import annotations

import json

import base64
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import select

from api import tokens
from api.cli import main
from api.usecases import admin as admin_usecases
from api.usecases.admin import COMMAND_LINE
from domain.decisions import PromptDecision, prompt_id_for, record_decision
from domain.entries import decode_entry, entry_bytes
from domain.errors import InvalidPayload, Unavailable
from domain.links import IdentityLink, RecordLinkWithdrawal, link_identities, unlink_identities
from domain.text import text_fault
from domain.tokens import MAX_SHOWN, ROLES, Actor
from projections.identity import facts
from projections.risk import Decision, decisions
from tests.fictional_case import HEALTH, NHS, POLICE, SOCIAL_CARE, UPN, agencies, concern, identity_link  # noqa: F401

OLD_BY = "practitioner token 0123456789abcdef (local authority 309)"
SAM = Actor("Sam Example (fictional)", "practitioner", "0123456789abcdef", local_authority="309")
SAM_SHOWN = "Sam Example (fictional) (practitioner, council 309)"
SAM_BY = {"holder": "Sam Example (fictional)", "role": "practitioner", "token_id": "0123456789abcdef",
          "local_authority": "309"}  # fmt: skip
RECORDS = [{"agency": POLICE, "record_id": "ref-1"}]
AT = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
ORIGINATOR = uuid.UUID("11111111-2222-4333-8444-555555555555")


def all_entries(services) -> list[bytes]:
    """The entry bytes of every stored event, in log order."""
    notes = services.ledger.recorder.select_notifications(start=1, limit=1_000_000)
    return [entry_bytes(services.ledger.mapper.to_domain_event(n)) for n in notes]


def of_kind(services, kind: str) -> list[dict]:
    return [entry for entry in map(decode_entry, all_entries(services)) if entry["kind"] == kind]


def secret_forms(secret: str) -> list[bytes]:
    """Every spelling of a token or its hash that an entry must not hold."""
    digest = tokens.hash_token(secret)
    return [secret.encode(), secret[len(tokens.TOKEN_PREFIX):].encode(), digest, digest.hex().encode(),
            base64.b64encode(digest), base64.urlsafe_b64encode(digest).rstrip(b"=")]  # fmt: skip


def assert_no_secret(services, *secrets: str) -> None:
    entries = all_entries(services)
    for secret in secrets:
        for form in secret_forms(secret):
            assert not any(form in entry for entry in entries)


# Who acted --------------------------------------------------------------------------------------

holders = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200)


@given(holder=holders, role=st.sampled_from(ROLES), council=st.from_regex(r"[0-9]{3}", fullmatch=True))
def test_the_readable_actor_fits_a_column_names_the_holder_and_never_the_token(holder, role, council) -> None:
    assume(text_fault(holder, single_line=True) is None and holder.strip())
    token_id = "fedcba9876543210"
    assume(token_id not in holder)
    actor = Actor(holder, role, token_id, local_authority=council if role == "practitioner" else None,
                  agency="northshire-police" if role == "agency" else None).check()  # fmt: skip
    shown = actor.shown()
    assert len(shown) <= MAX_SHOWN and text_fault(shown, single_line=True) is None and token_id not in shown
    scope = {"practitioner": f", council {council}", "agency": ", agency northshire-police"}.get(role, "")
    suffix = f" ({role}{scope})"
    if len(holder) + len(suffix) <= MAX_SHOWN:
        assert shown == holder + suffix
    else:  # shortened here, and only here
        assert shown.endswith("\u2026" + suffix) and holder.startswith(shown[: -len(suffix) - 1])
    assert actor.as_entry()["holder"] == holder  # whole in the entry, however it is shown


def test_actors_are_checked_and_shown_by_role_and_scope() -> None:
    assert SAM.shown() == SAM_SHOWN and SAM.as_entry() == SAM_BY
    assert COMMAND_LINE.actor().shown() == "cli (admin)"
    assert COMMAND_LINE.actor().as_entry() == {"holder": "cli", "role": "admin", "token_id": "cli"}
    agency = Actor(None, "agency", "00000000000000aa", agency="northshire-police")
    assert agency.shown() == "unnamed holder (agency, agency northshire-police)"
    for bad in (Actor("x", "superuser", "t"), Actor("a\x00b", "admin", "t"), Actor("x", "practitioner", "t",
                local_authority="30"), Actor("x", "admin", "t\n")):  # fmt: skip
        with pytest.raises(InvalidPayload):
            bad.check()


def test_a_page_shows_a_version_1_decision_without_its_token_id() -> None:
    old = Decision("d", "escalated", "r", OLD_BY, AT)
    assert "0123456789abcdef" not in old.shown_by and "council 309" in old.shown_by
    assert Decision("d", "escalated", "r", SAM_SHOWN, AT).shown_by == SAM_SHOWN


# Version 1 events: decodable, bytes unchanged -----------------------------------------------------

V1_EVENTS = [
    pytest.param(
        PromptDecision.Decided, "safeguarding-ledger:PromptDecision.Decided.v1",
        {"originator_topic": "safeguarding-ledger:PromptDecision", "prompt_id": "p", "child_id": "c", "rule": "r",
         "rule_version": 1, "records": RECORDS, "decision": "escalated", "reason": "Fictional.", "decided_by": OLD_BY},
        '{"at":"2026-03-01T09:30:00.000000Z","child_id":"c","decided_by":"' + OLD_BY + '","decision":"escalated",'
        '"kind":"prompt_decision","originator":"11111111-2222-4333-8444-555555555555","prompt_id":"p",'
        '"reason":"Fictional.","records":[{"agency":"northshire-police","record_id":"ref-1"}],"rule":"r",'
        '"rule_version":1,"v":1}',
        id="prompt_decision",
    ),
    pytest.param(
        IdentityLink.Linked, "safeguarding-ledger:IdentityLink.Linked.v1",
        {"originator_topic": "safeguarding-ledger:IdentityLink", "identifiers": [{"nhs_number": NHS[0]},
         {"upn": UPN[0]}], "linked_by": OLD_BY, "reason": "Fictional."},
        '{"at":"2026-03-01T09:30:00.000000Z","identifiers":[{"nhs_number":"9434765919"},{"upn":"B801200005001"}],'
        '"kind":"identity_linked","linked_by":"' + OLD_BY + '","originator":"11111111-2222-4333-8444-555555555555",'
        '"reason":"Fictional.","v":1}',
        id="identity_linked",
    ),
    pytest.param(
        IdentityLink.Unlinked, "safeguarding-ledger:IdentityLink.Unlinked.v1",
        {"unlinked_by": OLD_BY, "reason": "Fictional."},
        '{"at":"2026-03-01T09:30:00.000000Z","kind":"identity_unlinked",'
        '"originator":"11111111-2222-4333-8444-555555555555","reason":"Fictional.","unlinked_by":"' + OLD_BY + '",'
        '"v":1}',
        id="identity_unlinked",
    ),
    pytest.param(
        RecordLinkWithdrawal.Withdrawn, "safeguarding-ledger:RecordLinkWithdrawal.Withdrawn.v1",
        {"originator_topic": "safeguarding-ledger:RecordLinkWithdrawal", "agency": SOCIAL_CARE, "record_id": "L-1",
         "withdrawn_by": OLD_BY, "reason": "Fictional."},
        '{"agency":"northshire-childrens-services","at":"2026-03-01T09:30:00.000000Z",'
        '"kind":"record_link_withdrawn","originator":"11111111-2222-4333-8444-555555555555","reason":"Fictional.",'
        '"record_id":"L-1","v":1,"withdrawn_by":"' + OLD_BY + '"}',
        id="record_link_withdrawn",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "topic", "fields", "golden"), V1_EVENTS)
def test_a_version_1_event_keeps_its_topic_and_its_exact_entry_bytes(services, cls, topic, fields, golden) -> None:
    event = cls(originator_id=ORIGINATOR, originator_version=1 if "originator_topic" in fields else 2,
                timestamp=AT, **fields)  # fmt: skip
    stored = services.ledger.mapper.to_stored_event(event)
    assert stored.topic == topic
    decoded = services.ledger.mapper.to_domain_event(stored)
    assert type(decoded) is cls
    # The v1 fields keep their bytes; the ledger's signature is one more member beside them (SPEC 6.4).
    assert _unsigned(entry_bytes(decoded)) == golden.encode("utf-8")


def test_version_1_decisions_and_links_made_as_before_still_read_back_through_the_runner(services, agencies) -> None:
    agencies.submit(concern(HEALTH, "H-1", {"nhs_number": NHS[0]}, "2026-01-02", "neglect"),
                    identity_link(SOCIAL_CARE, "L-1", [{"nhs_number": NHS[1]}, {"upn": UPN[1]}]))  # fmt: skip
    ledger = services.ledger
    pid = prompt_id_for("r", 1, [(POLICE, "ref-1")])
    made = record_decision(ledger, prompt_id=pid, child_id="c", rule="r", rule_version=1, records=RECORDS,
                           decision="escalated", reason="Fictional.", by=OLD_BY)  # fmt: skip
    link = link_identities(ledger, [{"nhs_number": NHS[0]}, {"upn": UPN[0]}], by=OLD_BY, reason="Fictional.")
    unlink_identities(ledger, link_id=link.link_id, by=OLD_BY, reason="Fictional: twins.")
    unlink_identities(ledger, agency=SOCIAL_CARE, record_id="L-1", by=OLD_BY, reason="Fictional: wrong.")
    services.runner.catch_up()
    notes = ledger.recorder.select_notifications(start=1, limit=1000)
    assert [n.topic for n in notes[-4:]] == [
        "safeguarding-ledger:PromptDecision.Decided.v1", "safeguarding-ledger:IdentityLink.Linked.v1",
        "safeguarding-ledger:IdentityLink.Unlinked.v1", "safeguarding-ledger:RecordLinkWithdrawal.Withdrawn.v1",
    ]  # fmt: skip
    assert all("by" not in decode_entry(entry) for entry in all_entries(services))
    with services.engine.connect() as conn:
        assert conn.execute(select(decisions.c.decision_id, decisions.c.decided_by)).all() == [
            (made.decision_id, OLD_BY)]
        linked = conn.execute(select(facts.c.linked_by, facts.c.withdrawn_us).where(facts.c.fact_id == link.link_id))
        (by, withdrawn), = linked.all()
    assert by == OLD_BY and withdrawn is not None


def test_version_2_decisions_and_links_carry_the_structured_actor_and_read_models_show_the_name(
    services, agencies
) -> None:
    agencies.submit(identity_link(SOCIAL_CARE, "L-1", [{"nhs_number": NHS[1]}, {"upn": UPN[1]}]))
    ledger = services.ledger
    pid = prompt_id_for("r", 1, [(POLICE, "ref-1")])
    record_decision(ledger, prompt_id=pid, child_id="c", rule="r", rule_version=1, records=RECORDS,
                    decision="dismissed", reason="Fictional.", by=SAM)  # fmt: skip
    link = link_identities(ledger, [{"nhs_number": NHS[0]}, {"upn": UPN[0]}], by=SAM, reason="Fictional.")
    unlink_identities(ledger, link_id=link.link_id, by=SAM, reason="Fictional: twins.")
    unlink_identities(ledger, agency=SOCIAL_CARE, record_id="L-1", by=SAM, reason="Fictional: wrong.")
    services.runner.catch_up()
    topics = [n.topic for n in ledger.recorder.select_notifications(start=1, limit=1000)][-4:]
    assert topics == [
        "safeguarding-ledger:PromptDecision.Decided.v2", "safeguarding-ledger:IdentityLink.Linked.v2",
        "safeguarding-ledger:IdentityLink.Unlinked.v2", "safeguarding-ledger:RecordLinkWithdrawal.Withdrawn.v2",
    ]  # fmt: skip
    kinds = {"prompt_decision": "decided_by", "identity_linked": "linked_by", "identity_unlinked": "unlinked_by",
             "record_link_withdrawn": "withdrawn_by"}  # fmt: skip
    for kind, readable in kinds.items():
        (entry,) = of_kind(services, kind)
        assert entry["by"] == SAM_BY and entry[readable] == SAM_SHOWN
    with services.engine.connect() as conn:
        assert conn.execute(select(decisions.c.decided_by)).scalars().all() == [SAM_SHOWN]
        assert conn.execute(select(facts.c.linked_by).where(facts.c.fact_id == link.link_id)).scalar() == SAM_SHOWN


# Tokens as log entries ---------------------------------------------------------------------------


def test_issue_and_revoke_append_one_entry_each_in_the_merkle_log_and_never_the_secret(services) -> None:
    secret, info = services.admin.issue_token(COMMAND_LINE, "practitioner", local_authority="309",
                                              holder="Sam Example (fictional)", expires="2099-12-31")  # fmt: skip
    (issued,) = of_kind(services, "token_issued")
    assert {k: v for k, v in issued.items() if k not in ("v", "at", "originator", "ledger_sig")} == {
        "kind": "token_issued", "token_id": info.token_id, "holder": "Sam Example (fictional)",
        "role": "practitioner", "agency": None, "local_authority": "309",
        "expires_at": "2100-01-01T00:00:00.000000Z", "by": {"holder": "cli", "role": "admin", "token_id": "cli"},
    }  # fmt: skip
    revoked = services.admin.revoke_token(COMMAND_LINE, info.token_id)
    again = services.admin.revoke_token(COMMAND_LINE, info.token_id)
    assert again.revoked_at == revoked.revoked_at
    (entry,) = of_kind(services, "token_revoked")
    assert {k: entry[k] for k in ("token_id", "holder", "role", "local_authority", "expires_at", "by")} == {
        k: issued[k] for k in ("token_id", "holder", "role", "local_authority", "expires_at", "by")}
    assert datetime.fromisoformat(entry["revoked_at"]) == tokens.utc(revoked.revoked_at)
    assert_no_secret(services, secret)
    with services.engine.connect() as conn:
        assert tokens.authenticate(conn, secret) is None
    # Both entries are leaves: the integrity read model caught up in the same use case.
    assert services.checkpoint().size == len(all_entries(services))


def test_an_agency_token_without_a_holder_is_logged_with_its_agency(services, registered) -> None:
    secret, info = services.admin.issue_token(COMMAND_LINE, "agency", agency=registered)
    (issued,) = of_kind(services, "token_issued")
    assert (issued["token_id"], issued["holder"], issued["role"], issued["agency"], issued["local_authority"],
            issued["expires_at"]) == (info.token_id, None, "agency", registered, None, None)  # fmt: skip
    assert_no_secret(services, secret)


def test_a_refused_token_logs_nothing_and_stores_nothing(services) -> None:
    before = all_entries(services)
    refused = [{"role": "inquiry"}, {"role": "practitioner", "local_authority": "30", "holder": "x"},
               {"role": "admin", "holder": "Jo\x00Admin"}, {"role": "inquiry", "holder": "x", "expires": "2001-01-01"}]
    for kwargs in refused:
        with pytest.raises(InvalidPayload):
            services.admin.issue_token(COMMAND_LINE, **kwargs)
    assert all_entries(services) == before and tokens.list_tokens(services.engine) == []


def _fail(*_args, **_kwargs):
    raise Unavailable("the log cannot be written (fictional outage)")


def test_a_failed_issue_entry_leaves_no_token(services, monkeypatch) -> None:
    monkeypatch.setattr(admin_usecases, "log_token_issued", _fail)
    with pytest.raises(Unavailable):
        services.admin.issue_token(COMMAND_LINE, "inquiry", holder="Review Panel (fictional)")
    assert tokens.list_tokens(services.engine) == [] and of_kind(services, "token_issued") == []


def test_a_failure_after_the_issue_entry_leaves_only_an_entry_for_a_token_that_never_worked(
    services, monkeypatch
) -> None:
    monkeypatch.setattr(tokens, "store", _fail)
    with pytest.raises(Unavailable):
        services.admin.issue_token(COMMAND_LINE, "inquiry", holder="Review Panel (fictional)")
    (issued,) = of_kind(services, "token_issued")
    assert issued["holder"] == "Review Panel (fictional)"
    assert tokens.list_tokens(services.engine) == []  # no row: no secret authenticates as that token


def test_a_failed_revoke_entry_leaves_the_token_revoked_and_revoking_again_logs_it_once(services, monkeypatch) -> None:
    secret, info = services.admin.issue_token(COMMAND_LINE, "inquiry", holder="Review Panel (fictional)")
    with monkeypatch.context() as patch:
        patch.setattr(admin_usecases, "log_token_revoked", _fail)
        with pytest.raises(Unavailable):
            services.admin.revoke_token(COMMAND_LINE, info.token_id)
    with services.engine.connect() as conn:
        assert tokens.authenticate(conn, secret) is None
    assert of_kind(services, "token_revoked") == []
    first = services.admin.revoke_token(COMMAND_LINE, info.token_id)
    services.admin.revoke_token(COMMAND_LINE, info.token_id)
    (entry,) = of_kind(services, "token_revoked")
    assert datetime.fromisoformat(entry["revoked_at"]) == tokens.utc(first.revoked_at)


# ledger verify --------------------------------------------------------------------------------


def test_ledger_verify_accepts_every_new_kind(services, agencies, tmp_path, capsys) -> None:
    agencies.submit(identity_link(SOCIAL_CARE, "L-1", [{"nhs_number": NHS[1]}, {"upn": UPN[1]}]))
    _, info = services.admin.issue_token(COMMAND_LINE, "practitioner", local_authority="309", holder="Sam")
    services.admin.revoke_token(COMMAND_LINE, info.token_id)
    ledger = services.ledger
    record_decision(ledger, prompt_id=prompt_id_for("r", 1, [(POLICE, "ref-1")]), child_id="c", rule="r",
                    rule_version=1, records=RECORDS, decision="acknowledged", reason="Fictional.", by=SAM)  # fmt: skip
    link = link_identities(ledger, [{"nhs_number": NHS[0]}, {"upn": UPN[0]}], by=SAM, reason="Fictional.")
    unlink_identities(ledger, link_id=link.link_id, by=SAM, reason="Fictional.")
    unlink_identities(ledger, agency=SOCIAL_CARE, record_id="L-1", by=SAM, reason="Fictional.")
    services.runner.catch_up()
    size = services.checkpoint().size
    kinds = {decode_entry(entry)["kind"] for entry in all_entries(services)}
    assert {"token_issued", "token_revoked", "prompt_decision", "identity_linked", "identity_unlinked",
            "record_link_withdrawn"} <= kinds  # fmt: skip
    db = ["--database-url", services.settings.database_url, "--checkpoint-key", services.settings.checkpoint_key]
    out = tmp_path / "bundle"
    assert main(["export", "--out", str(out), *db]) == 0
    size += 1  # the export logs itself: one access entry
    assert main(["verify", str(out), "--processes", "0"]) == 0
    assert f"verified {size} entries" in capsys.readouterr().out
    assert main(["verify", *db, "--processes", "0"]) == 0
    assert f"verified {size} entries" in capsys.readouterr().out


def _unsigned(entry: bytes) -> bytes:
    """An entry's bytes without the ledger's signature member."""
    from domain.entries import LEDGER_SIGNATURE, canonical_json

    return canonical_json({k: v for k, v in json.loads(entry).items() if k != LEDGER_SIGNATURE})
