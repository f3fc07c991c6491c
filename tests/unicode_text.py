"""Strategies over the whole Unicode range for text-hygiene tests, and the rule written independently.

Hypothesis leaves lone surrogates out of ``st.characters()`` unless asked for them by category, so
the alphabet here adds them explicitly, together with the characters the rule is about (controls,
separators, non-characters) so that short strings meet them often.
"""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

#: Characters at the edges of the rule, drawn often.
EDGES = [
    "\x00", "\t", "\n", "\r", "\x0b", "\x1f", "\x7f", "\x85", "\x9f", "\xa0", "\u200b", "\u202e",
    "\u2028", "\u2029", "\ud800", "\udbff", "\udc00", "\udfff", "\ufdd0", "\ufdef", "\ufffe", "\uffff",
    "\U0001fffe", "\U0010ffff", "\ue000", " ", "a", "\u00e9", "\u0663", "\U0001f600",
]  # fmt: skip

any_char = st.one_of(
    st.characters(exclude_categories=()),  # every category but Cs
    st.characters(categories=("Cs",)),  # lone surrogates
    st.sampled_from(EDGES),
)
any_text = st.text(any_char, max_size=24)
#: Mostly ordinary text with one edge character somewhere: each edge is met often, alone.
edgy_text = st.builds(
    lambda before, edge, after: before + edge + after,
    st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=6),
    st.sampled_from(EDGES),
    st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=6),
)
texts = st.one_of(any_text, edgy_text)


def is_noncharacter(char: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of each of the 17 planes (Unicode section 23.7)."""
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def free_text_ok(text: str) -> bool:
    """SPEC 6.6 for free text: no Cc but tab, LF and CR; no surrogate; no non-character."""
    return all(
        char in "\t\n\r" or (unicodedata.category(char) not in ("Cc", "Cs") and not is_noncharacter(char))
        for char in text
    )


def line_ok(text: str) -> bool:
    """The single-line rule: every character printable (no Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs but space)."""
    return all(char == " " or unicodedata.category(char)[0] not in "CZ" for char in text)


def encodable(text: str) -> bool:
    """Whether UTF-8 can spell ``text`` (it cannot spell a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
