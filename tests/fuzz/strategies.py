"""Hostile input for the fuzz suite: text, JSON shapes, raw bodies and headers.

Every strategy is bounded (sizes, depth) so one example stays cheap against a live stack;
the fixed corpora hold the cases that broke journeybot before (issue 13) so that they are
tried on every run, not only when generation happens to hit them.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# Text nobody's database or renderer should choke on: lone surrogates, NUL and other C0/C1
# controls, bidi overrides and isolates, BOM, markup, SQL, path tricks, chat commands Rasa
# would parse as intents, header injection, and lengths around and far past our caps.
NASTY_TEXTS: list[str] = [
    "\udc80", "\udc80x", "x\ud800", "\ud83d", "\udfff\ud800",
    "\x00", "a\x00b", "\x00" * 64, "\x07\x1b[31m\x7f\x85\x9f",
    "\u202egnp.exe", "\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d", "\u200e\u200f\u061c",
    "\ufeff", "\ufffe\uffff", "\U0010ffff", "😀" * 2100, "ZALGO̸̢̧͓̻͙͍̪͂̄̒̓̔̚͜͝",
    "<script>alert(1)</script>", "<svg/onload=alert(2)>", "{{7*7}}", "${jndi:ldap://x}",
    "' OR 1=1 --", '"; DROP TABLE events; --', "../../../../etc/passwd", "%00", "%2B4915000000009",
    "\r\nSet-Cookie: pwned=1", "/restart", "/greet{\"name\": \"x\"}", "/session_start", "/nlu_fallback",
    "", " ", "\t\n\r", "a" * 4097, "b" * 70_000,
]

_any_char = st.characters(codec=None, categories=None)  # every code point, surrogates included

hostile_text = st.one_of(
    st.sampled_from(NASTY_TEXTS),
    st.text(_any_char, max_size=64),
    st.text(st.characters(codec=None, categories=("Cs", "Cc", "Cf", "Zl", "Zp")), min_size=1, max_size=16),
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY_TEXTS[:12]), st.text(_any_char, max_size=16)),
)

# Numbers a JSON parser accepts (or Python's json emits: NaN and Infinity are not JSON).
hostile_number = st.one_of(
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**400, 1e308, -0.0, float("nan"), float("inf"), float("-inf")]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True),
)

json_scalar = st.one_of(st.none(), st.booleans(), hostile_number, hostile_text)

json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)),
    max_leaves=12,
)

# What goes where an object is expected: every other JSON type, and objects of junk.
not_an_object = st.one_of(json_scalar, st.lists(json_value, max_size=3))


def dumps(value: Any) -> bytes:
    """JSON as a hostile client sends it: surrogates stay as \\u escapes, NaN/Infinity allowed."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode("ascii")


def deep(levels: int = 5000, opener: str = "[", closer: str = "]", leaf: str = "1") -> str:
    return opener * levels + leaf + closer * levels


def raw_bodies(fields: dict[str, Any] | None = None, deep_field: str | None = None) -> dict[str, bytes]:
    """Bodies no JSON route should answer with a 5xx; `fields` is a valid object to corrupt.

    Deep nesting is built as raw bytes: a Python structure 5,000 levels deep could not even
    be serialised by the json module.
    """
    fields = dict(fields or {})
    valid = json.dumps(fields)
    bodies: dict[str, bytes] = {
        "empty": b"",
        "not-json": b"sender=alice&message=hi",
        "truncated": valid[:-1].encode(),
        "nul-bytes": b"\x00" * 256,
        "invalid-utf8": b'{"sender": "\xff\xfe", "message": "\xc3\x28 \xed\xa0\x80"}',
        "utf16-bom": valid.encode("utf-16"),
        "json-null": b"null",
        "json-list": b"[]",
        "json-string": b'"hi"',
        "json-number": b"1e999999",
        "nan": b'{"a": NaN, "b": -Infinity}',
        "deep-list": deep().encode(),
        "deep-object": deep(opener='{"a":', closer="}").encode(),
        "duplicate-keys": b'{"a": 1, "a": {"b": 2}}',
        "one-mib": b'{"x": "' + b"A" * (1024 * 1024) + b'"}',
        "one-mib-of-brackets": b"[" * (1024 * 1024),
    }
    if deep_field:
        head = valid[:-1] + (", " if fields else "") + json.dumps(deep_field) + ": "
        bodies["deep-field"] = (head + deep(opener='{"a":', closer="}") + "}").encode()
        bodies["deep-field-list"] = (head + deep() + "}").encode()
        bodies["one-mib-field"] = (head + json.dumps("m" * (1024 * 1024)) + "}").encode()
    return bodies


WRONG_CONTENT_TYPES: list[str] = [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/xml",
    "application/json; charset=utf-16", "application/json; charset=bogus-charset", "*/*", "",
    "application/json\r\nX-Injected: 1", "a" * 2000,
]


def path_segment(text: str) -> str:
    """`text` as one URL path segment: UTF-8 with surrogates passed through (invalid UTF-8), escaped."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def form_bytes(fields: dict[str, str]) -> bytes:
    """A urlencoded form whose values may hold lone surrogates (sent as the bytes they would be)."""
    return "&".join(f"{path_segment(k)}={path_segment(v)}" for k, v in fields.items()).encode("ascii")


def header_value(text: str) -> bytes:
    """A header value as raw bytes (requests refuses str that is not Latin-1); CR/LF removed so
    the request itself stays one request (header injection is the client's bug, not ours)."""
    raw = text.encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")[:8000]
    return raw.lstrip(b" \t\f\v")  # leading whitespace would be a folded header line


hostile_headers = st.dictionaries(
    st.sampled_from(["Authorization", "X-Hub-Signature-256", "X-Twilio-Signature", "X-Telegram-Bot-Api-Secret-Token",
                     "Content-Type", "Accept", "X-Forwarded-For", "X-Forwarded-Proto", "Cookie", "X-CSRF-Token",
                     "Accept-Encoding", "Content-Encoding", "Origin", "Host"]),
    hostile_text.map(header_value),
    max_size=4,
)

HUGE_HEADER = {"X-Padding": b"p" * (64 * 1024)}
MANY_HEADERS = {f"X-H{i}": b"v" for i in range(300)}
