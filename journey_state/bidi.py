"""Bidirectional-text controls in customer text, removed before staff read it.

U+202E (RIGHT-TO-LEFT OVERRIDE) and its relatives reorder the characters that follow them,
so a customer could make "refund 500" read as "005 dnufer", or an order number or link
look like another, in an agent's screen. Arabic and Hebrew display correctly without them
(the Unicode bidi algorithm orders them by their letters), so they are dropped, not escaped.
"""
from __future__ import annotations

BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]  # LRE RLE PDF LRO RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI RLI FSI PDI
    + ["\u200e", "\u200f", "\u061c"]  # LRM RLM ALM
)
_DROP = {ord(c): None for c in BIDI_CONTROLS}


def strip_bidi(text: str) -> str:
    """`text` without bidi controls; the same type back (a Markup stays Markup)."""
    if not any(c in BIDI_CONTROLS for c in text):
        return text
    stripped = str.translate(text, _DROP)
    return stripped if type(text) is str else type(text)(stripped)
