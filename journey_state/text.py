"""Text from outside, made storable: what every way in does before a message reaches a store.

JSON may carry lone UTF-16 surrogates ("\\udc80") and NUL; both decode to Python str, but no
UTF-8 database can store the first and PostgreSQL refuses the second. One crafted message must
not crash a store (Rasa's SQL tracker store exits the process on it), so customer text is
cleaned, keeping what the customer wrote readable: a surrogate becomes U+FFFD, as a decoder
would show it, and control characters other than tab and newlines are dropped.

Identifiers are different: cleaning one would silently turn it into somebody else's, so
`storable_problem` lets callers reject them instead.
"""
from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
# A Python str holds a surrogate code point only when it was unpaired in the input.
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls except \t \n \r, DEL, and C1 controls: invisible, and NUL breaks PostgreSQL.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_JSON_DEPTH = 32


def clean_text(text: str) -> str:
    """`text` with lone surrogates replaced and control characters removed."""
    return _CONTROL.sub("", _SURROGATE.sub(REPLACEMENT, text))


def storable_problem(text: str) -> str | None:
    """Why `text` cannot be stored as it is (for identifiers, which are rejected, not cleaned), or None."""
    if _SURROGATE.search(text):
        return "contains an unpaired UTF-16 surrogate"
    if _CONTROL.search(text):
        return "contains a control character"
    return None


class TooDeep(ValueError):
    """A JSON value nested deeper than anything journeybot reads."""


def clean_json(value: Any, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON value with every string (keys included) cleaned; TooDeep past `max_depth` levels.

    Iterative on purpose: a hostile 5,000-level document must not exhaust Python's stack.
    """
    root: list[Any] = [None]
    stack: list[tuple[Any, list[Any] | dict[Any, Any], Any, int]] = [(value, root, 0, 0)]
    while stack:
        item, parent, key, depth = stack.pop()
        if depth > max_depth:
            raise TooDeep(f"nested deeper than {max_depth} levels")
        if isinstance(item, str):
            parent[key] = clean_text(item)
        elif isinstance(item, dict):
            copy: dict[str, Any] = {}
            parent[key] = copy
            for k, v in item.items():
                name = clean_text(k) if isinstance(k, str) else k
                copy[name] = None
                stack.append((v, copy, name, depth + 1))
        elif isinstance(item, (list, tuple)):
            items: list[Any] = [None] * len(item)
            parent[key] = items
            stack.extend((v, items, i, depth + 1) for i, v in enumerate(item))
        else:
            parent[key] = item
    return root[0]
