"""The agencies' history as a verifier replays it: registrations, keys and areas, in log order.

domain/audit.py checks each entry on its own (in worker processes) and feeds this history strictly
in log order. Replaying it answers, for every record, whether its key was its agency's and
unrevoked right there, and whether its agency served the council the record names (when the
agency's areas were recorded: an agency registered by a version 1 entry has none until an
administrator sets them). It also checks that every key after an agency's first is vouched for: by
the agency's key statement, signed with a key that agency held at that point, or by an
administrator's override. Override keys, and keys added by version 1 entries before statements
existed, are collected with the leaves of every record they signed, so ``ledger verify`` can report
them (SPEC 6.4): the log holds, but a person should look.

An export's keys.jsonl lists these steps one a line (``key_event_line``). ``EntryProblem`` lives
here, the lower of the two verifier modules; domain/audit.py re-exports it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.envelope import pae
from domain.keystatements import KEY_STATEMENT_TYPE, STATEMENT_FIELDS

#: Entry kinds that make up an agency's history: registration, keys and areas (an export's keys.jsonl).
KEY_KINDS = ("agency_registered", "key_added", "key_revoked", "agency_areas_changed")
#: The field naming the administrator in each kind's version 2 entry (absent from version 1 entries).
BY_FIELD = {"agency_registered": "registered_by", "key_added": "added_by", "key_revoked": "revoked_by",
            "agency_areas_changed": "changed_by"}  # fmt: skip


class EntryProblem(Exception):
    """Why one entry fails; ``audit_chunk`` attaches the index. Also raised by entry sources."""


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One step of an agency's history, at leaf ``index``: ``serves`` for a registration (version 2)
    or an areas change; ``by`` the administrator (version 2 entries); for a key added after the
    first, ``signed_by`` (the current key that signed the agency's statement) or ``override``."""

    index: int
    kind: str
    agency: str
    keyid: str | None = None
    public_key: bytes | None = None
    serves: tuple[str, ...] | None = None
    by: str | None = None
    signed_by: str | None = None
    override: str | None = None


#: ``(index, agency, keyid, local_authority)``: record entry ``index`` was signed by ``keyid`` on
#: behalf of ``agency`` and names council ``local_authority`` (or None). A plain tuple, one per
#: record, because chunk reports cross process boundaries by pickle.
KeyUse = tuple[int, str, str, "str | None"]


@dataclass(slots=True)
class FlaggedKey:
    """A key added without the agency's statement: by an administrator's ``override`` (with its
    reason, and who: ``by``), or (``override`` None) by a version 1 entry, before statements
    existed. ``records`` are the leaf indexes of the records it signed, in log order."""

    index: int
    agency: str
    keyid: str
    by: str | None
    override: str | None
    records: list[int] = field(default_factory=list)


def text_field(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise EntryProblem(f"the entry's {name} is missing or not a string")
    return value


def b64_field(text: str, what: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise EntryProblem(f"the entry's {what} is not standard base64") from None


def check_agency_fields(kind: str, data: dict) -> None:
    """The administrator and areas fields of an agency entry have their types (when present; an
    areas change always has both)."""
    by_field = BY_FIELD[kind]
    if (by_field in data or kind == "agency_areas_changed") and type(data.get(by_field)) is not str:
        raise EntryProblem(f"the {kind} entry's {by_field} is not a name")
    if "serves" in data or kind == "agency_areas_changed":
        serves = data.get("serves")
        if type(serves) is not list or not serves or any(type(code) is not str for code in serves):
            raise EntryProblem(f"the {kind} entry's serves is not a list of council codes")


def check_vouching(data: dict, agency: str, keyid: str, public_key: Callable[[str], Ed25519PublicKey]) -> None:
    """What a key_added entry says vouches for its key: an override reason, or the agency's key
    statement, whose signature by ``signed_by`` is checked here with ``public_key(keyid)``. That
    ``signed_by`` was the agency's current key at this point is ``AgencyHistory``'s to check."""
    statement, signed_by, override = data.get("statement"), data.get("signed_by"), data.get("override")
    if override is not None and (type(override) is not str or statement is not None or signed_by is not None):
        raise EntryProblem(f"the key_added entry of key {keyid} has a malformed override")
    if statement is None:
        if signed_by is not None:
            raise EntryProblem(f"the key_added entry of key {keyid} names a signer but holds no statement")
        return
    try:
        payload_type, payload_text, signatures = statement["payloadType"], statement["payload"], statement["signatures"]
    except (KeyError, TypeError):
        raise EntryProblem(f"the key statement of key {keyid} is not a DSSE envelope") from None
    if payload_type != KEY_STATEMENT_TYPE or type(payload_text) is not str or type(signatures) is not list:
        raise EntryProblem(f"the key statement of key {keyid} is not a DSSE envelope of the key statement type")
    if type(signed_by) is not str:
        raise EntryProblem(f"the key_added entry of key {keyid} holds a statement but names no signer")
    payload = b64_field(payload_text, "key statement payload")
    message, key = pae(KEY_STATEMENT_TYPE, payload), public_key(signed_by)
    for signature in signatures:
        if type(signature) is dict and signature.get("keyid") == signed_by and type(signature.get("sig")) is str:
            try:
                key.verify(b64_field(signature["sig"], "key statement sig"), message)
            except InvalidSignature:
                continue
            break
    else:
        raise EntryProblem(f"no signature by key {signed_by} verifies over the key statement of key {keyid}")
    try:
        said = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):
        raise EntryProblem(f"the key statement of key {keyid} is not JSON") from None
    wanted = {"agency": agency, "keyid": keyid, "public_key": data["public_key"]}
    if type(said) is not dict or set(said) != STATEMENT_FIELDS or said != wanted:
        raise EntryProblem(f"the key statement of key {keyid} does not name this agency and key")


@dataclass(slots=True)
class _KeyState:
    agency: str
    added: int
    revoked: int | None = None


class AgencyHistory:
    """The agencies' history replayed in log order; each method raises EntryProblem for a step
    the history so far does not allow."""

    def __init__(self) -> None:
        self._agencies: set[str] = set()
        self._keys: dict[str, _KeyState] = {}
        self._serves: dict[str, frozenset[str] | None] = {}
        self._keyed: set[str] = set()  # agencies that have had a key
        self._flagged: dict[str, FlaggedKey] = {}

    def flagged(self) -> tuple[FlaggedKey, ...]:
        """Every key added without the agency's statement so far, by the leaf that added it."""
        return tuple(sorted(self._flagged.values(), key=lambda key: key.index))

    def use(self, item: KeyUse) -> None:
        """A record: its key was its agency's and unrevoked here, and its council one its agency
        served here (when the agency's areas were recorded)."""
        index, agency, keyid, council = item
        state = self._keys.get(keyid)
        if state is None or state.agency != agency:
            raise EntryProblem(f"key {keyid} was not registered to agency {agency} before this record")
        if state.revoked is not None:
            raise EntryProblem(f"key {keyid} was revoked at leaf {state.revoked}, before this record")
        serves = self._serves.get(agency)
        if council is not None and serves is not None and council not in serves:
            raise EntryProblem(f"the record names council {council}, which agency {agency} did not serve here")
        flagged = self._flagged.get(keyid)
        if flagged is not None:
            flagged.records.append(index)

    def apply(self, item: KeyEvent) -> None:
        """One registration, key or areas step."""
        if item.kind == "agency_registered":
            if item.agency in self._agencies:
                raise EntryProblem(f"agency {item.agency} is registered a second time")
            self._agencies.add(item.agency)
            self._serves[item.agency] = None if item.serves is None else frozenset(item.serves)
        elif item.agency not in self._agencies:
            raise EntryProblem(f"agency {item.agency} changes keys or areas before it is registered")
        elif item.kind == "agency_areas_changed":
            self._serves[item.agency] = frozenset(item.serves or ())
        elif item.kind == "key_added":
            if item.keyid in self._keys:
                raise EntryProblem(f"key {item.keyid} is added a second time")
            self._vouched(item)
            self._keys[item.keyid] = _KeyState(item.agency, item.index)
            self._keyed.add(item.agency)
        else:
            state = self._keys.get(item.keyid)  # type: ignore[arg-type]
            if state is None or state.agency != item.agency or state.revoked is not None:
                raise EntryProblem(f"key {item.keyid} is revoked but was not an unrevoked key of {item.agency}")
            state.revoked = item.index

    def _vouched(self, item: KeyEvent) -> None:
        """A key after an agency's first is vouched for by a statement signed with a key of that
        agency unrevoked here, or it is flagged: by an override, or (version 1) by nothing."""
        if item.signed_by is not None:
            signer = self._keys.get(item.signed_by)
            if signer is None or signer.agency != item.agency or signer.revoked is not None:
                raise EntryProblem(
                    f"the statement for key {item.keyid} is signed by {item.signed_by}, "
                    f"not a current key of agency {item.agency} here"
                )
            return
        if item.agency not in self._keyed:
            return  # the key it was registered with
        if item.override is None and item.by is not None:
            raise EntryProblem(f"key {item.keyid} is added to agency {item.agency} without its statement or an override")
        self._flagged[item.keyid] = FlaggedKey(item.index, item.agency, item.keyid, item.by, item.override)  # type: ignore[arg-type]


def key_event_of(index: int, entry: dict) -> KeyEvent:
    """The history step that a decoded agency, key or areas entry (kind in KEY_KINDS) records."""
    public_key, serves, kind = entry.get("public_key"), entry.get("serves"), entry["kind"]
    return KeyEvent(
        index,
        kind,
        entry["agency"],
        entry.get("keyid"),
        None if public_key is None else base64.b64decode(public_key),
        None if serves is None else tuple(serves),
        entry.get(BY_FIELD[kind]),
        entry.get("signed_by"),
        entry.get("override"),
    )


def key_event_line(event: KeyEvent) -> str:
    """One line of an export's keys.jsonl, the agencies' history."""
    line: dict[str, object] = {"index": event.index, "kind": event.kind, "agency": event.agency}
    if event.keyid is not None:
        line["keyid"] = event.keyid
    if event.public_key is not None:
        line["public_key"] = base64.b64encode(event.public_key).decode("ascii")
    for name in ("serves", "by", "signed_by", "override"):
        value = getattr(event, name)
        if value is not None:
            line[name] = list(value) if name == "serves" else value
    return json.dumps(line, separators=(",", ":"))


def parse_key_event_line(line: bytes | str) -> KeyEvent:
    """Read a keys.jsonl line back; EntryProblem when it is malformed."""
    try:
        data = json.loads(line)
        public_key, serves = data.get("public_key"), data.get("serves")
        return KeyEvent(
            int(data["index"]),
            str(data["kind"]),
            str(data["agency"]),
            data.get("keyid"),
            None if public_key is None else base64.b64decode(public_key, validate=True),
            None if serves is None else tuple(serves),
            data.get("by"),
            data.get("signed_by"),
            data.get("override"),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error):
        raise EntryProblem("a key history line is malformed") from None
