"""Whatever the domain accepts, every read model stores: no accepted entry may stall one.

Each example appends a few entries of every kind the ledger appends (records, amendments and
retractions; access entries; decisions; practitioner links and unlinks; withdrawals of a record's
link; agencies registered, keys added and revoked) with free text drawn from the whole of Unicode,
lone surrogates and NUL included, through the domain's own functions as the API calls them. The
domain may refuse an entry (a LedgerError); what it does not refuse must reach every read model:
after a catch-up, each one's position is the log's head and none is stalled. Each example gets a
fresh database, so a stall in one never shows up as a failure of the next.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from api.bootstrap import Services, bootstrap
from api.settings import Settings
from domain.access import log_access
from domain.decisions import prompt_id_for, record_decision
from domain.errors import LedgerError
from domain.links import link_identities, unlink_identities
from tests.conftest import BACKENDS, POSTGRES_URL, drop_postgres_schema, new_postgres_schema
from tests.fictional_case import NHS, POLICE, SOCIAL_CARE, UPN, Agencies, concern, identity_link, retraction

EXAMPLES = 15
_ids = itertools.count()

# Any character at all, with the ones a database or an encoder is likeliest to refuse drawn often.
SPECIAL = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d", "\ufffe", "\uffff", "\U0010ffff", "\u2028", "\x1b",
                           "\\", "'", '"', "%", "\u0301", "\U0001f600"])  # fmt: skip
# Joined by hand: text() with a mixed alphabet quietly merges the special characters away.
TEXT = st.lists(st.one_of(SPECIAL, st.characters(exclude_categories=())), min_size=1, max_size=30).map("".join)


@contextmanager
def fresh_ledger(backend: str) -> Iterator[Services]:
    """A new, empty ledger on ``backend``, dropped afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        schema = None
        if backend == "sqlite":
            url = f"sqlite:///{Path(folder) / 'ledger.db'}"
        else:
            schema = new_postgres_schema()
            url = f"{POSTGRES_URL.split('?')[0]}?schema={schema}"
        services = bootstrap(Settings(database_url=url, checkpoint_key=str(Path(folder) / "checkpoint.key")))
        try:
            yield services
        finally:
            services.close()
            if schema is not None:
                drop_postgres_schema(schema)


def record(agencies: Agencies, text: Callable[[], str]) -> None:
    subject = {"nhs_number": NHS[0], "given_name": text(), "family_name": text(), "aliases": [text()]}
    original = concern(POLICE, f"P-{next(_ids)}", subject, "2026-03-01", "neglect", summary=text(),
                       action_taken=text(), author={"role": text(), "name": text()})  # fmt: skip
    amended = {**original, "record_id": f"P-{next(_ids)}", "type": "amendment", "amends": original["record_id"],
               "summary": text()}  # fmt: skip
    withdrawn = retraction(POLICE, f"R-{next(_ids)}", original["record_id"], summary=text())
    for payload in (original, amended, withdrawn):
        agencies.services.ledger.submit_many([agencies.envelope(payload)])  # a refusal comes back, not raised


def access(agencies: Agencies, text: Callable[[], str]) -> None:
    log_access(agencies.services.ledger, token_id="tok-1", role="practitioner", child="child-1", read="chronology",
               query={"nhs_number": NHS[0]}, local_authority="309", break_glass=True, reason=text())  # fmt: skip


def decision(agencies: Agencies, text: Callable[[], str]) -> None:
    records = [{"agency": POLICE, "record_id": "P-BASE"}]
    record_decision(agencies.services.ledger, prompt_id=prompt_id_for("repeat_concerns", 1, [(POLICE, "P-BASE")]),
                    child_id="child-1", rule="repeat_concerns", rule_version=1, records=records,
                    decision="escalated", reason=text(), by=text())  # fmt: skip


def link(agencies: Agencies, text: Callable[[], str]) -> None:
    ledger = agencies.services.ledger
    made = link_identities(ledger, [{"nhs_number": NHS[0]}, {"upn": UPN[0]}], by=text(), reason=text())
    unlink_identities(ledger, link_id=made.link_id, by=text(), reason=text())


def withdrawal(agencies: Agencies, text: Callable[[], str]) -> None:
    record_id = f"L-{next(_ids)}"
    payload = identity_link(SOCIAL_CARE, record_id, [{"nhs_number": NHS[1]}, {"upn": UPN[1]}])
    agencies.services.ledger.submit([agencies.envelope(payload)])
    unlink_identities(agencies.services.ledger, agency=SOCIAL_CARE, record_id=record_id, by=text(), reason=text())


def agency(agencies: Agencies, text: Callable[[], str]) -> None:
    ledger, agency_id = agencies.services.ledger, f"fictional-agency-{next(_ids)}"
    ledger.register_agency(agency_id, "school", text(), Ed25519PrivateKey.generate().public_key(), serves=["309"],
                           by=text())
    keyid = ledger.add_key(agency_id, Ed25519PrivateKey.generate().public_key(), by=text(), override=text())
    ledger.revoke_key(agency_id, keyid, text(), by=text())


KINDS = {f.__name__: f for f in (record, access, decision, link, withdrawal, agency)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_read_model_stores_whatever_the_domain_accepts(backend) -> None:
    # No shrinking: each example costs a fresh database, and the error already names the character.
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])  # fmt: skip
    @given(kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4), data=st.data())
    def appended_entries_reach_every_read_model(kinds: list[str], data: st.DataObject) -> None:
        with fresh_ledger(backend) as services:
            agencies = Agencies(services)
            agencies.submit(concern(POLICE, "P-BASE", {"nhs_number": NHS[0]}, "2026-02-01", "neglect"))
            for kind in kinds:
                try:
                    KINDS[kind](agencies, lambda: data.draw(TEXT))
                except LedgerError:
                    pass  # the domain refused it at the door: nothing was appended
            services.runner.catch_up()  # raises ReadModelStalled if any read model could not take an entry
            head = services.ledger.recorder.max_notification_id()
            assert [(s.name, s.position, s.stall) for s in services.runner.status()] == [
                (name, head, None) for name in services.runner.projections
            ]
            stored = services.ledger.recorder.select_notifications(start=0, limit=10_000, inclusive_of_start=False)
            assert services.checkpoint().size == len(stored)

    appended_entries_reach_every_read_model()


def test_the_text_strategy_reaches_the_characters_that_matter() -> None:
    """The property above is only as good as its text: it must draw lone surrogates, NUL and
    characters beyond the Basic Multilingual Plane."""
    seen: set[str] = set()

    @settings(max_examples=300, database=None, deadline=None)
    @given(TEXT)
    def draw(text: str) -> None:
        seen.update(c for c in text if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF or ord(c) > 0xFFFF)

    draw()
    assert "\x00" in seen and any(0xD800 <= ord(c) <= 0xDFFF for c in seen) and any(ord(c) > 0xFFFF for c in seen)
