"""Restricted records through the use cases, on both backends: whatever mix of records, restricted
or not, amended, retracted, filtered or seen as of a moment, no practitioner-visible answer (the
chronology, the risk prompts, the possible matches, the child's page or print-out) holds a word of a
restricted record, while an inquiry's holds all of it; and the agency's notification of a
break-glass read is rebuilt from the log exactly."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from api.tokens import Principal
from api.usecases.children import ChildSelector, Look
from api.usecases.practitioners import ChronologyFilter
from projections.notifications import agency_notices, agency_notifications
from tests.api_live import fresh_nhs_number
from tests.fictional_case import HEALTH, POLICE, SCHOOL, agencies  # noqa: F401 - the fixture

_serial = itertools.count(1)
PRACTITIONER = Principal(token_id="0123456789abcdef", role="practitioner", local_authority="309",
                         holder="Sam Example (fictional)")  # fmt: skip
INQUIRY = Principal(token_id="fedcba9876543210", role="inquiry", holder="Review Panel (fictional)")

_RECORD = st.fixed_dictionaries({
    "agency": st.sampled_from([POLICE, HEALTH, SCHOOL]),
    "category": st.sampled_from(["neglect", "sexual_harm", "was_not_brought", "domestic_abuse"]),
    "day": st.integers(1, 28),
    "restricted": st.booleans(),
    "then": st.sampled_from(["stays", "amended", "retracted"]),
})  # fmt: skip


def _submit(agencies, nhs: str, plan: list[dict]) -> tuple[list[str], list[str]]:
    """Submit the planned records of one child; the secret texts of restricted ones, and all texts."""
    secrets, texts, payloads = [], [], []
    for spec in plan:
        n = next(_serial)
        text = f"Fictional secret {n} of {spec['agency']}"
        record = {"agency": spec["agency"], "record_id": f"R-{n}", "type": "concern",
                  "subject": {"nhs_number": nhs}, "occurred_at": f"2026-04-{spec['day']:02d}T08:00:00+00:00",
                  "category": spec["category"], "summary": text, "action_taken": f"{text}: action",
                  "local_authority": "309", "restricted": spec["restricted"]}  # fmt: skip
        payloads.append(record)
        texts.append(text)
        (secrets if spec["restricted"] else []).append(text)
        if spec["then"] == "amended":
            payloads.append(record | {"record_id": f"R-{n}-a", "type": "amendment", "amends": f"R-{n}",
                                      "summary": f"{text} (amended)"})  # fmt: skip
        elif spec["then"] == "retracted":
            payloads.append({"agency": spec["agency"], "record_id": f"R-{n}-r", "type": "retraction",
                             "amends": f"R-{n}", "summary": f"{text}: retracted", "restricted": spec["restricted"]})
    agencies.submit(*payloads)
    return secrets, texts


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=st.lists(_RECORD, min_size=1, max_size=6), category=st.sampled_from([None, "sexual_harm", "neglect"]))
def test_no_practitioner_answer_holds_a_word_of_a_restricted_record(services, agencies, plan, category):
    nhs = fresh_nhs_number()
    plan[0]["then"] = "stays"  # a current record names the child's council, so its practitioner may read it
    secrets, texts = _submit(agencies, nhs, plan)
    look = Look(ChildSelector(nhs_number=nhs))
    answers = [
        services.practitioners.chronology(PRACTITIONER, look),
        services.practitioners.chronology(PRACTITIONER, look, ChronologyFilter(category=category)),
        services.practitioners.risk(PRACTITIONER, look),
        services.practitioners.matches(PRACTITIONER, look),
    ]
    child = answers[0]["child"]["id"]
    answers.append(services.pages.child_page(PRACTITIONER, child))
    answers.append(services.pages.child_page(PRACTITIONER, child, for_print=True,
                                             narrow=ChronologyFilter(category=category)))  # fmt: skip
    for answer in answers:
        shown = repr(answer)
        assert [s for s in secrets if s in shown] == []
    restricted = [e for e in answers[0]["entries"] if e["restricted"]]
    assert all(e["summary"].startswith("A restricted record from ") and e["category"] is None for e in restricted)
    if category is not None:  # a filter tells nothing of a restricted record's category
        assert not any(e["restricted"] for e in answers[1]["entries"])
    full = repr(services.practitioners.chronology(INQUIRY, look)) + repr(services.pages.child_page(INQUIRY, child))
    assert all(text in full for text in texts)


def test_the_agency_is_told_of_a_break_glass_read_and_a_rebuild_tells_it_the_same(services, agencies):
    nhs = fresh_nhs_number()
    (secret,), _ = _submit(agencies, nhs, [{"agency": HEALTH, "category": "sexual_harm", "day": 3,
                                            "restricted": True, "then": "stays"}])  # fmt: skip
    child = services.practitioners.chronology(INQUIRY, Look(ChildSelector(nhs_number=nhs)))["child"]["id"]
    record_id = next(e["record_id"] for e in services.practitioners.chronology(
        INQUIRY, Look(ChildSelector(nhs_number=nhs)))["entries"])  # fmt: skip
    opened = services.sharing.open_restricted(PRACTITIONER, child, HEALTH, record_id, "Fictional: strategy meeting.")
    assert opened["entry"]["summary"] == secret and opened["break_glass"]
    services.sharing.open_restricted(INQUIRY, child, HEALTH, record_id, None)  # not flagged: no one is told
    with services.engine.connect() as conn:
        (told,) = agency_notifications(conn, HEALTH)
        assert agency_notifications(conn, POLICE) == []
        before = conn.execute(select(agency_notices).order_by(agency_notices.c.notification_id)).all()
    assert (told.record_id, told.child, told.council, told.who) == (record_id, child, "309", PRACTITIONER.holder)
    services.runner.rebuild("notifications")
    with services.engine.connect() as conn:
        after = conn.execute(select(agency_notices).order_by(agency_notices.c.notification_id)).all()
    assert after == before
