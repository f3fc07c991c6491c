"""Synthetic, realistic, entirely fictional safeguarding data, to load the ledger at scale.

Three fictional councils, each with its police force, health trust, schools, children's services,
housing and early years; children with valid-looking identifiers from reserved or invented ranges
(NHS numbers 999..., which the NHS keeps for testing; UPNs with their check letter), names that
agencies spell differently (police often misspell, and know a child only by their own reference),
and a stream of records whose categories, agencies and identifiers follow the patterns of practice:
many routine contacts, domestic abuse mostly from police, missed appointments from health,
occasional amendments, retractions, and identity links from children's services joining a police
reference to an NHS number. One *focus* child has exactly ``focus_entries`` records across agencies,
for the chronology benchmark. Deterministic for a seed; streams, so 1M events need little memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from stdnum.gb import upn as upn_check

from domain import envelope as dsse

COUNCILS = {"309": "northshire-police", "310": "northshire-police", "311": "southmoor-police"}
GIVEN = ("Riley Ava Noah Olivia Leo Amelia Oscar Isla Arlo Mia Theo Freya Archie Lily Jack Ivy Harry Evie "
         "Muhammad Grace Jayden Sofia Alfie Aisha Kai Ruby Finley Zara Reggie Maya Tommy Esme Ethan Hana Luca "
         "Poppy Ezra Nadia Milo Chloe Idris Layla Caleb Amara Rowan Ellie Zain Willow").split()  # fmt: skip
FAMILY = ("Hart Quinn Marsh Okafor Whitlock Begum Kowalski Thornton Ashby Nwosu Fairweather Brennan Malik "
          "Pritchard Osei Lindqvist Harcourt Mensah Calloway Duarte Ferris Kaur Penhale Adebayo Radcliffe "
          "Sutcliffe Novak Greaves Achterberg Bellamy Yilmaz Crowther Delacroix Eastwood Fitzgerald Gallagher "
          "Holloway Iqbal Jennings Kearney Llewellyn Mahmood Nightingale Oduya Pemberton Rahman Stainton").split()
CATEGORIES = {  # category: (weight, {agency kind: weight})
    "routine_contact": (25, {"health": 6, "school": 3, "early_years": 1}),
    "neglect": (12, {"school": 3, "health": 3, "social_care": 2, "early_years": 1, "housing": 1}),
    "domestic_abuse": (12, {"police": 8, "social_care": 1, "health": 1}),
    "school_absence": (10, {"school": 1}),
    "was_not_brought": (10, {"health": 1}),
    "physical_injury": (8, {"health": 7, "school": 2, "police": 1}),
    "emotional_harm": (6, {"school": 5, "social_care": 3, "health": 2}),
    "household_change": (5, {"housing": 5, "probation": 2, "police": 2, "social_care": 1}),
    "parental_mental_health": (4, {"health": 7, "social_care": 3}),
    "parental_substance_misuse": (3, {"police": 4, "health": 4, "social_care": 2}),
    "missing_episode": (2, {"police": 8, "school": 2}),
    "sexual_harm": (1, {"police": 5, "health": 3, "school": 2}),
    "other": (2, {"social_care": 1, "health": 1}),
}
ROLES = {"police": "police constable", "health": "health visitor", "school": "designated safeguarding lead",
         "social_care": "social worker", "housing": "housing officer", "early_years": "nursery manager",
         "probation": "probation officer"}  # fmt: skip
SUMMARIES = {
    "routine_contact": "Fictional: seen at a routine appointment; growth and development as expected; {who} present.",
    "neglect": "Fictional: child arrived hungry and in unwashed clothes for the third day; {who} said money was short.",
    "domestic_abuse": "Fictional: officers attended a reported argument at the home; child was present and upset; "
                      "{who} declined to give a statement.",
    "school_absence": "Fictional: absent without explanation for four days; calls to {who} unanswered.",
    "was_not_brought": "Fictional: not brought to the booked appointment; {who} did not answer the follow-up call.",
    "physical_injury": "Fictional: bruise noted on the upper arm; {who} said the child fell from the sofa.",
    "emotional_harm": "Fictional: child told a teacher they were 'always in trouble at home' and seemed withdrawn.",
    "household_change": "Fictional: {who} reports a new partner has moved into the household.",
    "parental_mental_health": "Fictional: {who} disclosed low mood and not sleeping; referred to the GP.",
    "parental_substance_misuse": "Fictional: strong smell of cannabis at the home visit; {who} appeared drowsy.",
    "missing_episode": "Fictional: reported missing overnight, found at a friend's house the next morning.",
    "sexual_harm": "Fictional: concerning online contact reported by the child; referred to the police.",
    "other": "Fictional: information shared at the multi-agency meeting.",
}
REF_PREFIX = {"police": "POL", "probation": "PRB", "housing": "HSG", "services": "CS"}
NAME_SWAPS = {"ph": "f", "y": "i", "ie": "y", "ey": "y", "th": "t", "ck": "k", "ll": "l", "tt": "t", "nn": "n"}


@dataclass(frozen=True, slots=True)
class AgencySpec:
    agency_id: str
    kind: str
    name: str
    key: Ed25519PrivateKey

    @property
    def serves(self) -> tuple[str, ...]:
        """The councils it records for (SPEC 6.2): its own council, or all three for a force or trust."""
        council = self.agency_id.rsplit("-", 1)[-1]
        return (council,) if council in COUNCILS else tuple(COUNCILS)


@dataclass
class Child:
    index: int
    nhs_number: str | None
    upn: str | None
    given: str
    family: str
    born: date
    postcode: str
    council: str

    def ref(self, agency_id: str) -> str:
        """The agency's own reference for the child (police, housing, probation, children's services)."""
        prefix = next((REF_PREFIX[part] for part in agency_id.split("-") if part in REF_PREFIX), "REF")
        return f"{prefix}-{self.index:07d}"


def nhs_numbers(start: int = 0) -> Iterator[str]:
    """Valid NHS numbers from the 999 range the NHS reserves for testing (never a real person)."""
    serial = start
    while True:
        body = f"999{serial:06d}"
        serial += 1
        check = (11 - sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11) % 11
        if check != 10:
            yield body + str(check)


def make_upn(council: str, school: int, year: int, serial: int) -> str:
    """A UPN with a valid check letter: LA code, school number, year of issue, serial."""
    body = f"{council}{school:04d}{year % 100:02d}{serial:03d}"
    return upn_check.calc_check_digit(body) + body


def misspell(name: str, rng: random.Random) -> str:
    """How a name gets written down wrong: a phonetic swap, a doubled or dropped letter."""
    lower = name.lower()
    for old, new in NAME_SWAPS.items():
        if old in lower and rng.random() < 0.5:
            return name[0] + lower.replace(old, new, 1)[1:] if len(name) > 1 else name
    index = rng.randrange(1, len(name)) if len(name) > 1 else 0
    return name[:index] + name[index + 1 :] if rng.random() < 0.5 else name[:index] + name[index] + name[index:]


class Dataset:
    """A seeded stream of fictional records: ``events`` records about ``children`` children."""

    def __init__(self, events: int, children: int, seed: int = 2026, focus_entries: int = 200, today: date = date(2026, 6, 1)):
        self.events, self.seed, self.focus_entries, self.today = events, seed, focus_entries, today
        self.rng = random.Random(seed)
        self.agencies = self._agencies()
        self.by_kind: dict[tuple[str, str], list[AgencySpec]] = {}
        for spec in self.agencies.values():
            council = spec.agency_id.split("-")[-1] if spec.kind not in ("police", "health", "probation") else "*"
            self.by_kind.setdefault((spec.kind, council), []).append(spec)
        numbers = nhs_numbers()
        self.children = [self._child(i, numbers) for i in range(max(children, 1))]
        self.focus = self.children[0]

    def _agencies(self) -> dict[str, AgencySpec]:
        specs = [("northshire-police", "police", "Northshire Police"), ("southmoor-police", "police", "Southmoor Police"),
                 ("northshire-health", "health", "Northshire Health NHS Trust"),
                 ("southmoor-health", "health", "Southmoor Health NHS Trust"),
                 ("northshire-probation", "probation", "Northshire Probation Service")]  # fmt: skip
        for council in COUNCILS:
            specs += [(f"childrens-services-{council}", "social_care", f"Children's Services {council}"),
                      (f"housing-{council}", "housing", f"Housing Department {council}"),
                      (f"early-years-{council}", "early_years", f"Little Acorns Nursery {council}")]  # fmt: skip
            specs += [(f"school-{k}-{council}", "school", f"Oakfield Primary {k} ({council})") for k in range(1, 9)]
        found = {}
        for agency_id, kind, name in specs:
            secret = hashlib.sha256(f"{self.seed}/{agency_id}".encode()).digest()
            found[agency_id] = AgencySpec(agency_id, kind, f"{name} (fictional)", Ed25519PrivateKey.from_private_bytes(secret))
        return found

    def _child(self, index: int, numbers: Iterator[str]) -> Child:
        rng = self.rng
        born = self.today - timedelta(days=rng.randrange(30, 17 * 365) if index else 8 * 365)
        council = rng.choice(list(COUNCILS))
        has_nhs = rng.random() < 0.97 or index == 0  # a few are unborn or not yet registered
        upn = None
        if (self.today - born).days > 4 * 365:
            upn = make_upn(council, 2000 + index % 8, born.year + 5, index % 1000)
        return Child(index, next(numbers) if has_nhs else None, upn, rng.choice(GIVEN), rng.choice(FAMILY), born,
                      f"NS{rng.randrange(1, 30)} {rng.randrange(1, 10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                      f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}", council)  # fmt: skip

    def _agency(self, child: Child, kind: str) -> AgencySpec:
        if kind == "police":
            return self.agencies[COUNCILS[child.council]]
        if kind == "health":
            return self.agencies["southmoor-health" if child.council == "311" else "northshire-health"]
        if kind == "probation":
            return self.agencies["northshire-probation"]
        if kind == "school":
            return self.agencies[f"school-{1 + int(child.upn[5:8]) % 8}-{child.council}"]
        return self.by_kind[(kind, child.council)][0]

    def _subject(self, child: Child, spec: AgencySpec) -> dict:
        rng, kind = self.rng, spec.kind
        names = {"given_name": child.given, "family_name": child.family}
        if kind == "police":
            subject = {"local_id": child.ref(spec.agency_id), "given_name": child.given,
                       "family_name": misspell(child.family, rng) if rng.random() < 0.3 else child.family}  # fmt: skip
            if rng.random() < 0.7:
                subject["date_of_birth"] = child.born.isoformat()
            if child.nhs_number and rng.random() < 0.2:
                subject["nhs_number"] = child.nhs_number
            return subject
        if kind in ("housing", "probation") or (kind == "social_care" and not child.nhs_number):
            return {"local_id": child.ref(spec.agency_id), "family_name": child.family, "postcode": child.postcode}
        if kind == "school":
            subject = {"upn": child.upn, **names}
            if child.nhs_number and rng.random() < 0.5:
                subject["nhs_number"] = child.nhs_number
            return subject
        if not child.nhs_number:
            return {"local_id": child.ref(spec.agency_id), **names}
        return {"nhs_number": child.nhs_number, **names, "date_of_birth": child.born.isoformat()}

    def _concern(self, child: Child, number: int) -> dict:
        rng = self.rng
        categories = list(CATEGORIES)
        category = rng.choices(categories, weights=[CATEGORIES[c][0] for c in categories])[0]
        kinds = CATEGORIES[category][1]
        kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
        if kind == "school" and not child.upn:
            kind = "health" if category != "school_absence" else "early_years"
        spec = self._agency(child, kind)
        day = child.born + timedelta(days=rng.randrange(0, max(1, (self.today - child.born).days)))
        occurred = day.isoformat() if rng.random() < 0.4 else (
            f"{day.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+0{rng.randrange(2)}:00")  # fmt: skip
        who = rng.choice(["mother", "father", "carer", "grandmother", "stepfather"])
        return {"agency": spec.agency_id, "record_id": f"{spec.kind[:3].upper()}-{number:08d}", "type": "concern",
                "subject": self._subject(child, spec), "occurred_at": occurred, "category": category,
                "summary": SUMMARIES[category].format(who=who), "author": {"role": ROLES[spec.kind]},
                "local_authority": child.council}  # fmt: skip

    def payloads(self) -> Iterator[dict]:
        """The records, in the order they are submitted; amendments and retractions follow their targets."""
        rng = self.rng
        others = self.children[1:] or self.children
        cumulative = list(itertools.accumulate(1 / (rank + 1) ** 0.6 for rank in range(len(others))))
        recent: list[dict] = []
        focus_every = max(1, self.events // max(1, self.focus_entries))
        focus_done = 0
        yield self._link(self.focus, 0)
        for number in range(1, self.events):
            roll = rng.random()
            if number % focus_every == 0 and focus_done < self.focus_entries - 1:
                focus_done += 1
                yield self._concern(self.focus, number)  # never amended or retracted: exactly its entries
                continue
            elif roll < 0.02 and recent:
                target = rng.choice(recent)
                record = {**target, "record_id": f"{target['record_id']}-A{number}", "type": "amendment",
                          "amends": target["record_id"], "summary": target["summary"] + " Corrected: date of visit."}  # fmt: skip
            elif roll < 0.025 and recent:
                target = recent.pop(rng.randrange(len(recent)))
                record = {"agency": target["agency"], "record_id": f"{target['record_id']}-R{number}",
                          "type": "retraction", "amends": target["record_id"],
                          "summary": "Fictional: recorded against the wrong child in error."}  # fmt: skip
            elif roll < 0.055:
                record = self._link(rng.choices(others, cum_weights=cumulative)[0], number)
            else:
                record = self._concern(rng.choices(others, cum_weights=cumulative)[0], number)
            if record["type"] == "concern":
                recent.append(record)
                if len(recent) > 500:
                    recent.pop(0)
            yield record

    def _link(self, child: Child, number: int) -> dict:
        """Children's services joining the other agencies' references (and the UPN) to the NHS number."""
        services = f"childrens-services-{child.council}"
        same = [{"nhs_number": child.nhs_number} if child.nhs_number else {"agency": services, "local_id": child.ref(services)}]
        for agency_id in (COUNCILS[child.council], f"housing-{child.council}", "northshire-probation"):
            same.append({"agency": agency_id, "local_id": child.ref(agency_id)})
        if child.upn:
            same.append({"upn": child.upn})
        return {"agency": f"childrens-services-{child.council}", "record_id": f"LINK-{number:08d}",
                "type": "identity_link", "same_child": same, "local_authority": child.council}  # fmt: skip

    def envelopes(self) -> Iterator[dict]:
        """The payloads signed by their agencies' keys (DSSE envelopes)."""
        for payload in self.payloads():
            yield dsse.sign(json.dumps(payload).encode(), self.agencies[payload["agency"]].key)


def summary_line(dataset: Dataset) -> str:
    return (f"{dataset.events:,} events, {len(dataset.children):,} children, {len(dataset.agencies)} agencies, "
            f"focus child with {dataset.focus_entries} entries (seed {dataset.seed})")  # fmt: skip
