"""Fictional agencies and record builders for the child-centred read models' tests.

Every name, number and event here is invented. NHS numbers and UPNs carry valid check characters
(a valid check digit is not a match: only the same identifier joins records automatically).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.bootstrap import Services
from domain import envelope as dsse
from domain.errors import LedgerError

POLICE, HEALTH, SCHOOL, SOCIAL_CARE, HOUSING = (
    "northshire-police", "northshire-health", "oakfield-school", "northshire-childrens-services",
    "northshire-housing",
)  # fmt: skip
KINDS = {POLICE: "police", HEALTH: "health", SCHOOL: "school", SOCIAL_CARE: "social_care", HOUSING: "housing"}
NHS = ("9434765919", "4010232137")
UPN = ("B801200005001", "P207000016049")
SUMMARY = "Fictional: details as recorded by the agency."
#: The fictional councils every fictional agency serves (records name 309 and, for a move, 310).
COUNCILS = ("309", "310", "311", "312")  # the fictional agencies serve every council their cases name


class Agencies:
    """The fictional agencies, registered with fresh keys, and a way to submit their records."""

    def __init__(self, services: Services):
        self.services = services
        self.keys = {agency: Ed25519PrivateKey.generate() for agency in KINDS}
        for agency, key in self.keys.items():
            services.ledger.register_agency(agency, KINDS[agency], f"{agency} (fictional)", key.public_key(),
                                            serves=COUNCILS, by="Fixture Admin (fictional)")

    def envelope(self, payload: dict) -> dict:
        return dsse.sign(json.dumps(payload).encode(), self.keys[payload["agency"]])

    def submit(self, *payloads: dict) -> list[dict]:
        """Submit records as one batch; every one must be accepted."""
        results = self.services.submit([self.envelope(p) for p in payloads])
        refused = [r for r in results if isinstance(r, LedgerError)]
        assert not refused, refused
        return results


@pytest.fixture
def agencies(services) -> Agencies:
    return Agencies(services)


def concern(agency: str, record_id: str, subject: dict, occurred_at: str, category: str, **fields) -> dict:
    """A concern payload; ``fields`` add or replace fields."""
    return {"agency": agency, "record_id": record_id, "type": "concern", "subject": subject,
            "occurred_at": occurred_at, "category": category, "summary": SUMMARY, **fields}  # fmt: skip


def amendment(original: dict, record_id: str, **changes) -> dict:
    """A complete corrected record replacing ``original``."""
    return {**original, "record_id": record_id, "type": "amendment", "amends": original["record_id"], **changes}


def retraction(agency: str, record_id: str, amends: str, **fields) -> dict:
    return {"agency": agency, "record_id": record_id, "type": "retraction", "amends": amends,
            "summary": "Fictional: recorded against the wrong child.", **fields}  # fmt: skip


def identity_link(agency: str, record_id: str, same_child: Iterable[dict]) -> dict:
    return {"agency": agency, "record_id": record_id, "type": "identity_link", "same_child": list(same_child)}


def school_case(agencies: Agencies, *, link: bool = True) -> dict[str, dict]:
    """Riley Hart, aged four: police know Riley only by a local reference and a misspelled surname,
    health by NHS number, the school by UPN. Each agency's record looks minor alone; social care's
    identity link (when ``link``) joins them. Returns the payloads by name."""
    records = {
        "police": concern(POLICE, "NP-24-0311", {"local_id": "NP-P-58812", "given_name": "Riley",
                          "family_name": "Heart", "date_of_birth": "2021-09-14", "postcode": "NS1 4QT"},
                          "2026-03-01T23:10:00+00:00", "domestic_abuse", local_authority="309",
                          author={"role": "police constable"}, action_taken="Operation Encompass notice to school."),
        "health": concern(HEALTH, "ED-88123", {"nhs_number": NHS[0], "given_name": "Riley", "family_name": "Hart",
                          "date_of_birth": "2021-09-14"}, "2026-03-09", "physical_injury",
                          local_authority="309", author={"role": "emergency department nurse"}),
        "school": concern(SCHOOL, "OAK-2026-17", {"upn": UPN[0], "given_name": "Riley", "family_name": "Hart"},
                          "2026-03-05T08:45:00+00:00", "emotional_harm", local_authority="309",
                          author={"role": "designated safeguarding lead"}),
    }  # fmt: skip
    agencies.submit(records["police"], records["health"], records["school"])
    if link:
        records["link"] = identity_link(SOCIAL_CARE, "MASH-2026-0042", [
            {"nhs_number": NHS[0]}, {"upn": UPN[0]}, {"agency": POLICE, "local_id": "NP-P-58812"}])  # fmt: skip
        agencies.submit(records["link"])
    return records


def statutory_case(agencies: Agencies, *, plan_on: str = "2026-03-20", approximate: bool = False) -> dict[str, dict]:
    """Social care's statutory events for Riley (by NHS number): a strategy discussion, a section 47
    enquiry, an initial child protection conference and the child protection plan it started on
    ``plan_on`` (``approximate``: a date social care knows only roughly). Returns the payloads by name."""
    riley = {"nhs_number": NHS[0]}
    records = {
        "strategy": concern(SOCIAL_CARE, "CSC-24-0101", riley, "2026-03-10T10:00:00+00:00", "strategy_discussion",
                            local_authority="309"),
        "section_47": concern(SOCIAL_CARE, "CSC-24-0102", riley, "2026-03-11", "section_47_enquiry",
                              local_authority="309"),
        "conference": concern(SOCIAL_CARE, "CSC-24-0103", riley, plan_on, "initial_cp_conference", local_authority="309"),
        "plan": concern(SOCIAL_CARE, "CSC-24-0104", riley, plan_on, "child_protection_plan_start",
                        local_authority="309", **({"occurred_at_approximate": True} if approximate else {})),
    }  # fmt: skip
    agencies.submit(*records.values())
    return records
