"""The one strict JSON parser: every body, envelope and payload the ledger takes is read by it.

Strict means one meaning for every reader of the same bytes (I-JSON, RFC 7493 section 2): UTF-8
only, no repeated object names (readers resolve them differently), no NaN or Infinity (not JSON at
all), no string holding a lone surrogate (no UTF-8 spelling exists for it, so it could never be
stored or hashed), and nesting at most ``MAX_DEPTH`` levels (SPEC 6.6).

Depth is measured before ``json`` sees the text, by counting brackets outside strings, so 100,000
nested ``[`` are refused in linear time and never reach the decoder's recursion.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

from domain.errors import LedgerError, MalformedEnvelope

#: Deepest nesting accepted; ``[[1]]`` is depth 2.
MAX_DEPTH = 64

_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# A \u escape of a surrogate, whichever case: only then can a decoded string hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate: exactly the strings UTF-8 cannot encode (and the
    codec finds them many times faster than a regular expression does)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unique_names(pairs: list[tuple[str, object]]) -> dict:
    """Object hook refusing repeated names (without naming them: a name may hold anything)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("repeated name in a JSON object")
    return data


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_names, parse_constant=_refuse_constant)


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of ``text`` outside JSON strings, in linear time, no recursion.

    Exact for valid JSON and for any valid prefix of invalid JSON, which is all the decoder ever
    reaches before it stops, so a depth within bounds here keeps the decoder within bounds too.
    """
    outside, in_string = [], False
    for part in text.split('"'):  # C speed; regular expressions were several times slower here
        if not in_string:
            outside.append(part)
            in_string = True
        elif (len(part) - len(part.rstrip("\\"))) % 2 == 0:
            in_string = False  # this quote is not escaped by an odd run of backslashes: it closes
    brackets = _NOT_BRACKET.sub("", "".join(outside))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep(text: str) -> bool:
    """Whether ``text`` nests deeper than MAX_DEPTH; skips the scan when it has too few brackets."""
    return text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH


def _segment(name: str) -> str:
    """An object name as a path shows it: only a short printable one is repeated back."""
    return name if len(name) <= 40 and name.isprintable() and name else "(a name)"


def lone_surrogate_path(value: object) -> str | None:
    """Where the first string (or object name) holding a lone surrogate sits, as ``a.b[2]``, or None.

    Iterative, so any depth the parser accepted is walked without recursion.
    """
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                return path or "the top level"
        elif isinstance(item, dict):
            for key, child in item.items():
                if _has_surrogate(key):
                    return f"a name in {path or 'the top-level object'}"
                stack.append((f"{path}.{_segment(key)}" if path else _segment(key), child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def parse_json(
    data: bytes | str,
    *,
    what: str = "the body",
    error: type[LedgerError] = MalformedEnvelope,
    deep_error: type[LedgerError] | None = None,
) -> object:
    """Decode ``data`` strictly (see the module docstring) or raise ``error`` saying why.

    ``what`` names the input in the message ("the envelope", "the payload"). ``deep_error`` is raised
    for nesting beyond MAX_DEPTH (default ``error``); SPEC 6.6 makes that a 400, so a caller whose
    ``error`` is a 422 passes a 400 class here. Messages never quote the input.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not valid JSON (strict UTF-8): byte {exc.start} is not UTF-8") from None
        raw_surrogates = False  # the UTF-8 codec refuses encoded surrogates
    elif isinstance(data, str):
        text = data
        raw_surrogates = _has_surrogate(text)
    else:
        raise error(f"{what} must be JSON text")
    if too_deep(text):
        raise (deep_error or error)(f"{what} is nested too deeply: JSON may nest at most {MAX_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON (strict UTF-8): {exc.msg} at character {exc.pos}") from None
    except ValueError as exc:  # from the hooks: repeated names, NaN, Infinity
        raise error(f"{what} is not valid JSON (strict UTF-8): {exc}") from None
    except RecursionError:  # unreachable after the depth check; kept so no caller ever sees one
        raise (deep_error or error)(f"{what} is nested too deeply") from None
    if raw_surrogates or _SURROGATE_ESCAPE.search(text):
        where = lone_surrogate_path(value)
        if where is not None:
            raise error(f"{what} is not valid JSON (strict UTF-8): {where} holds a lone surrogate (U+D800-U+DFFF)")
    return value
