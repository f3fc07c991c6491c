"""The demo ledger: fictional agencies and a fictional case, appended exactly as agencies would.

A newcomer should see the product's point in one command: fragments held by police, the Emergency
Department, a GP, health visitors and a nursery, which only form a picture once children's social
care links the police's own person reference to the child's NHS number. Every record here is
signed with its agency's freshly generated key and goes through ``Services.submit``, so it passes
the same checks as any agency's submission. Every name, number and place is fictional.

The case is appended in two stages a moment apart: what the agencies recorded as things happened,
then what children's social care added (the link, an amendment, a retraction). Viewing the
chronology "as known at" the moment between them shows what was visible before the link.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.bootstrap import Services, bootstrap
from api.keyfiles import write_private_key, write_public_key
from api.settings import Settings
from domain import envelope as dsse
from domain.errors import AlreadyExists, LedgerError

MARKER = ".ledger-demo"
COUNCIL = "990"  # a code no English council uses: the demo's fictional Northshire
OTHER_COUNCIL = "991"  # a neighbouring fictional council, which Northshire's practitioners cannot see
CHILD_NHS = "9995260182"  # NHS numbers from 999: the range the NHS keeps for tests
POLICE_REF = "NP-P-448170"
DEMO_ADMIN = "cli"  # the demo is set up at the command line, like `ledger agency add`


@dataclass(frozen=True, slots=True)
class DemoAgency:
    agency_id: str
    kind: str
    name: str
    serves: tuple[str, ...] = (COUNCIL,)  # the councils it records for (SPEC 6.2)


AGENCIES = (
    DemoAgency("northshire-police", "police", "Northshire Police (fictional)", (COUNCIL, OTHER_COUNCIL)),
    DemoAgency("northshire-ed", "health", "Northshire Hospitals NHS Trust, Emergency Department (fictional)"),
    DemoAgency("elmwood-surgery", "health", "Elmwood Surgery, GP practice (fictional)"),
    DemoAgency("northshire-health-visiting", "health", "Northshire Health Visiting Service (fictional)"),
    DemoAgency("little-acorns-nursery", "early_years", "Little Acorns Nursery (fictional)"),
    DemoAgency("northshire-childrens-services", "social_care", "Northshire Children's Social Care (fictional)"),
)

_LARK = {"nhs_number": CHILD_NHS, "given_name": "Lark", "family_name": "Samplewell",
         "date_of_birth": "2026-03-09", "postcode": "ZZ1 1ZZ"}  # fmt: skip
_LARK_BY_POLICE = {"local_id": POLICE_REF, "given_name": "Lark", "family_name": "Samplewel", "postcode": "ZZ1 1ZZ"}
_LARK_AT_ED_UNNAMED = {"local_id": "ED-TEMP-20261102-07", "given_name": "Larke", "family_name": "Samplewell",
                       "date_of_birth": "2026-03-09", "postcode": "ZZ1 1ZZ"}  # fmt: skip


def _r(agency: str, record_id: str, occurred_at: str, category: str, summary: str, *, subject: dict = _LARK,
       action: str | None = None, role: str | None = None, council: str = COUNCIL, **extra: object) -> dict:
    """One concern payload (or, with ``type``/``amends`` in ``extra``, an amendment)."""
    payload = {"agency": agency, "record_id": record_id, "type": "concern", "subject": subject,
               "occurred_at": occurred_at, "category": category, "summary": summary,
               "local_authority": council}  # fmt: skip
    if action:
        payload["action_taken"] = action
    if role:
        payload["author"] = {"role": role}
    payload.update(extra)
    return payload


# What each agency recorded as it happened, March to November 2026 (the baby is born 9 March).
CASE_AS_IT_HAPPENED = (
    _r("northshire-health-visiting", "HV-2026-0311", "2026-03-19", "routine_contact",
       "New birth visit. Lark feeding well and gaining weight. Mother (Jade Samplewell) warm and attentive; "
       "lives with Lark in a first-floor flat.", action="Universal health visiting offer.", role="health visitor"),
    _r("elmwood-surgery", "ELM-55120", "2026-04-27", "was_not_brought",
       "Lark was not brought to the 6-8 week baby check.", action="Letter sent to rebook.", role="practice nurse"),
    _r("elmwood-surgery", "ELM-55391", "2026-05-11", "was_not_brought",
       "Lark was not brought to the rebooked 6-8 week check.", action="Health visitor informed.", role="GP"),
    _r("northshire-police", "NP-INC-26-11873", "2026-05-23T23:40:00+01:00", "domestic_abuse",
       "Neighbour called about shouting at the flat. Adult female Jade Samplewell and adult male Dale Placeholder "
       "present; baby asleep in the bedroom. Both denied any assault.", subject=_LARK_BY_POLICE,
       action="Words of advice. DASH risk assessment: standard.", role="police constable"),
    _r("northshire-health-visiting", "HV-2026-0744", "2026-06-16", "household_change",
       "Mother says her new partner, Dale Placeholder, has moved into the flat.",
       action="Advised on safe sleep with a new adult in the home.", role="health visitor"),
    _r("northshire-ed", "ED-2026-071344", "2026-07-13T19:05:00+01:00", "physical_injury",
       "Lark, 4 months old, brought in with a bruise to the left forearm. Mother's account: Lark caught her arm "
       "in the cot bars.", action="Examined; discharged home.", role="emergency department nurse"),
    _r("northshire-police", "NP-INC-26-17402", "2026-07-30T02:15:00+01:00", "domestic_abuse",
       "Dale Placeholder arrested for assaulting Jade Samplewell. Baby present in the flat, crying.",
       subject=_LARK_BY_POLICE, action="Arrest; released on bail. DASH: medium.", role="police sergeant"),
    _r("elmwood-surgery", "ELM-56730", "2026-08-04", "routine_contact",
       "Seen with a cough. Mother said the earlier bruise came from Lark rolling against the cot side.",
       action="Reassured; no follow-up.", role="GP"),
    _r("elmwood-surgery", "ELM-57002", "2026-08-24", "was_not_brought",
       "Lark was not brought for her first immunisations.", action="Second letter sent.", role="practice nurse"),
    _r("little-acorns-nursery", "LAN-0091", "2026-09-07", "routine_contact",
       "Lark started at nursery, three mornings a week. Settled well.", role="nursery manager"),
    _r("little-acorns-nursery", "LAN-0117", "2026-09-29", "physical_injury",
       "Small bruise on Lark's left cheek noticed on arrival. Mother said Lark fell against a toy.",
       action="Body map completed; logged with the safeguarding lead.", role="key person"),
    _r("little-acorns-nursery", "LAN-0123", "2026-10-06", "neglect",
       "Arrived in the same clothes as the day before; nappy not changed overnight.", role="key person"),
    _r("northshire-police", "NP-INC-26-21955", "2026-10-18T21:30:00+01:00", "domestic_abuse",
       "Third call to the flat. Dale Placeholder had breached bail conditions; baby present.",
       subject=_LARK_BY_POLICE, action="Arrest for breach of bail. DASH: high; referred to MARAC.",
       role="police constable"),
    _r("northshire-ed", "ED-2026-102188", "2026-10-21T10:20:00+01:00", "physical_injury",
       "Lark brought in after a bump to the head. Mother's partner says she rolled off the sofa.",
       action="Head injury observations; discharged.", role="emergency department doctor"),
    _r("northshire-ed", "ED-2026-110207", "2026-11-02T16:45:00+00:00", "physical_injury",
       "Infant brought in with a scald to the right hand, registered under a temporary number because the "
       "NHS number could not be traced at triage.", subject=_LARK_AT_ED_UNNAMED,
       action="Dressing; referral to children's social care.", role="emergency department nurse"),
)

# What was added once children's social care was involved, recorded a moment later.
CASE_AFTER_REFERRAL = (
    _r("northshire-ed", "ED-2026-071344-A1", "2026-07-13T19:05:00+01:00", "physical_injury",
       "Correction after review by the consultant paediatrician: three bruises, on both upper arms, in a pattern "
       "consistent with fingertip grip; not the forearm. The account was given by the mother's partner.",
       action="Examined; discharged home. Should have been referred: referral now made.",
       role="consultant paediatrician", type="amendment", amends="ED-2026-071344"),
    {"agency": "little-acorns-nursery", "record_id": "LAN-0123-R", "type": "retraction", "amends": "LAN-0123",
     "summary": "Recorded against the wrong child in error; it has been recorded on the right child's file.",
     "local_authority": COUNCIL},
    _r("northshire-childrens-services", "CSC-26-3341", "2026-11-03T11:00:00+00:00", "strategy_discussion",
       "Referral from the Emergency Department. Strategy discussion with police and health: threshold for a "
       "section 47 enquiry met.", action="Section 47 enquiry; safety plan with the mother.", role="social worker"),
    _r("northshire-childrens-services", "CSC-26-3345", "2026-11-04", "section_47_enquiry",
       "Section 47 enquiry started: child protection medical arranged; Lark seen with her mother.",
       action="Initial child protection conference requested.", role="social worker"),
    {"agency": "northshire-childrens-services", "record_id": "CSC-26-3341-L1", "type": "identity_link",
     "same_child": [{"nhs_number": CHILD_NHS, "given_name": "Lark", "family_name": "Samplewell"},
                    {"agency": "northshire-police", "local_id": POLICE_REF, "family_name": "Samplewel"}],
     "summary": "The MASH police researcher confirmed police person reference NP-P-448170 is Lark: same "
                "address, same mother; the surname was misspelled.",
     "local_authority": COUNCIL},  # fmt: skip
    _r("northshire-childrens-services", "CSC-26-3502", "2026-11-16T14:00:00+00:00", "initial_cp_conference",
       "Initial child protection conference: child protection plan, category physical abuse. Dale Placeholder "
       "is not to have unsupervised contact with Lark.", action="Child protection plan.", role="social worker"),
    _r("northshire-childrens-services", "CSC-26-3503", "2026-11-16T15:30:00+00:00", "child_protection_plan_start",
       "Child protection plan started, category physical abuse; review conference within three months.",
       action="Core group to meet within ten working days.", role="social worker"),
)

# A few unrelated children, so search and possible matches have something else to find.
OTHER_CHILDREN = (
    _r("elmwood-surgery", "ELM-51002", "2026-02-10", "routine_contact", "Robin attended for a routine review.",
       subject={"nhs_number": "9991590838", "given_name": "Robin", "family_name": "Testington",
                "date_of_birth": "2022-08-30"}, role="GP"),
    _r("little-acorns-nursery", "LAN-0102", "2026-09-15", "school_absence", "Robin absent all week; no reason given.",
       subject={"nhs_number": "9991590838", "given_name": "Robin", "family_name": "Testington"},
       action="Phoned the father; Robin returned the next Monday.", role="nursery manager"),
    _r("northshire-health-visiting", "HV-2026-0822", "2026-08-02", "routine_contact",
       "Two-year review. Development on track.", role="health visitor",
       subject={"nhs_number": "9990166137", "given_name": "Lark", "family_name": "Samplewood",
                "date_of_birth": "2024-07-21", "postcode": "ZZ4 8ZZ"}),
    _r("northshire-police", "NP-INC-26-19310", "2026-09-12T17:30:00+01:00", "missing_episode",
       "Sky reported missing after school; found at a friend's house at 21:00.", council=OTHER_COUNCIL,
       subject={"nhs_number": "9991860916", "upn": "V201200119044", "given_name": "Sky",
                "family_name": "Exampleton", "date_of_birth": "2016-05-14"},
       action="Return home interview requested.", role="police constable"),
)


@dataclass
class DemoLedger:
    """What ``build_demo`` made: where it lives and how to look at it."""

    directory: Path
    settings: Settings
    child_nhs_number: str
    council: str
    before_referral: datetime  # a moment between the two stages, for "as known at"
    receipts: list[dict] = field(default_factory=list)


def demo_settings(directory: Path) -> Settings:
    """Settings for a demo ledger in ``directory``: SQLite file and checkpoint key side by side."""
    return Settings(
        database_url=f"sqlite:///{(directory / 'ledger.db').resolve()}",
        checkpoint_key=str((directory / "ledger-checkpoint.key").resolve()),
    )


def prepare_directory(directory: Path) -> None:
    """Make ``directory`` ready for a fresh demo: create it, or clear a previous demo's files from it.

    A directory that holds anything else is refused, so the demo never deletes someone's files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / MARKER).exists():
        for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger-checkpoint.key", MARKER):
            (directory / name).unlink(missing_ok=True)
        shutil.rmtree(directory / "keys", ignore_errors=True)
    elif any(directory.iterdir()):
        raise AlreadyExists(f"{directory} is not empty and holds no earlier demo; choose a new folder")
    (directory / MARKER).write_text("made by `ledger demo`; the next demo in this folder replaces it\n")


def submit_signed(services: Services, keys: dict[str, Ed25519PrivateKey], payloads: tuple[dict, ...]) -> list[dict]:
    """Sign each payload with its agency's key and append it, one submission each, as agencies would."""
    receipts = []
    for payload in payloads:
        agency = payload["agency"]
        envelope = dsse.sign(json.dumps(payload).encode("utf-8"), keys[agency])
        (result,) = services.submit([envelope], acting_agency=agency)
        if isinstance(result, LedgerError):
            raise result
        receipts.append(result)
    return receipts


def register_agencies(services: Services, key_dir: Path) -> dict[str, Ed25519PrivateKey]:
    """Register every demo agency with a new key, written to ``key_dir`` so the user can sign more."""
    key_dir.mkdir(exist_ok=True)
    keys = {}
    for agency in AGENCIES:
        key = Ed25519PrivateKey.generate()
        write_private_key(key_dir / f"{agency.agency_id}.key", key)
        write_public_key(key_dir / f"{agency.agency_id}.pub", key)
        services.ledger.register_agency(agency.agency_id, agency.kind, agency.name, key.public_key(),
                                        serves=agency.serves, by=DEMO_ADMIN)  # fmt: skip
        keys[agency.agency_id] = key
    services.runner.catch_up()
    return keys


def _next_whole_second() -> datetime:
    """The next whole second from now: "as known at" inputs in a browser have whole seconds."""
    return (datetime.now(timezone.utc) + timedelta(seconds=1)).replace(microsecond=0)


def build_demo(directory: Path, services: Services | None = None) -> DemoLedger:
    """Build the fictional case in a fresh ledger in ``directory`` (or in ``services``' ledger)."""
    directory = Path(directory)
    prepare_directory(directory)
    settings = services.settings if services else demo_settings(directory)
    own = services is None
    services = services or bootstrap(settings)
    try:
        keys = register_agencies(services, directory / "keys")
        receipts = submit_signed(services, keys, OTHER_CHILDREN + CASE_AS_IT_HAPPENED)
        before_referral = _next_whole_second()
        time.sleep(max(0.0, (before_referral - datetime.now(timezone.utc)).total_seconds()) + 0.05)
        receipts += submit_signed(services, keys, CASE_AFTER_REFERRAL)
    finally:
        if own:
            services.close()
    return DemoLedger(directory, settings, CHILD_NHS, COUNCIL, before_referral, receipts)
