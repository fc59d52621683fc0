"""Bot replies → WhatsApp Cloud API message objects, within WhatsApp's limits.

Limits (Cloud API, interactive messages): text body 4096 chars; interactive body 1024;
reply buttons ≤3 with titles ≤20 and ids ≤256; lists ≤10 rows with row titles ≤24,
descriptions ≤72, ids ≤200, and a list button label ≤20. Ids must be unique per message.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
LIST_BUTTON_MAX = 20
ELLIPSIS = "…"
# Reply ids must be unique within a message, but replies.yml may give two buttons the same
# payload; the second one gets this suffix and `reply_id_to_text` strips it again.
DUPLICATE_MARK = "~~"


@dataclass(frozen=True)
class Choice:
    title: str
    payload: str


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in an ellipsis if it was cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def split_text(text: str, limit: int = TEXT_MAX) -> list[str]:
    """Parts of at most `limit` chars, cut at a paragraph, line, sentence or word boundary if possible."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            cut = window.rfind(separator)
            if cut > limit // 2:
                cut += len(separator) if separator == ". " else 0
                break
        if cut <= limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def reply_id_to_text(reply_id: str) -> str:
    """The payload a reply id stands for (undoes the duplicate suffix)."""
    head, mark, tail = reply_id.rpartition(DUPLICATE_MARK)
    return head if mark and tail.isdigit() and head else reply_id


def _unique_ids(payloads: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for payload in payloads:
        count = seen.get(payload, 0) + 1
        seen[payload] = count
        ids.append(payload if count == 1 else f"{payload}{DUPLICATE_MARK}{count}")
    return ids


def text_messages(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"body": part, "preview_url": False}} for part in split_text(text)]


def render(text: str | None, choices: Sequence[Choice] = (), list_button: str = "Choose") -> list[dict[str, Any]]:
    """The messages that carry `text` and its `choices` (reply buttons, or lists beyond three)."""
    text = (text or "").strip()
    choices = [c for c in choices if c.payload]
    if not choices:
        return text_messages(text) if text else []
    ids = _unique_ids(c.payload for c in choices)
    too_long = len(choices) > BUTTONS_MAX and any(len(i) > ROW_ID_MAX for i in ids)
    if any(len(i) > BUTTON_ID_MAX for i in ids) or too_long:
        # An id WhatsApp cannot carry would come back cut; show the options as text instead.
        lines = "\n".join(f"• {c.title}" for c in choices)
        return text_messages(f"{text}\n\n{lines}" if text else lines)
    # Text beyond the interactive body limit goes first, as plain text messages.
    parts = split_text(text, INTERACTIVE_BODY_MAX) if text else []
    leading, body = (parts[:-1], parts[-1]) if parts else ([], "")
    messages = [m for part in leading for m in text_messages(part)]
    if len(choices) <= BUTTONS_MAX:
        messages.append(_buttons(body or "Please choose:", choices, ids))
        return messages
    batches = [range(i, min(i + LIST_ROWS_MAX, len(choices))) for i in range(0, len(choices), LIST_ROWS_MAX)]
    for n, batch in enumerate(batches):
        page_body = body or "Please choose:"
        if n:
            page_body = f"More options ({n + 1}/{len(batches)})"
        messages.append(_list(page_body, [choices[i] for i in batch], [ids[i] for i in batch], list_button))
    return messages


def _buttons(body: str, choices: Sequence[Choice], ids: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": reply_id, "title": shorten(c.title, BUTTON_TITLE_MAX)}}
                for c, reply_id in zip(choices, ids, strict=True)
            ]},
        },
    }


def _list(body: str, choices: Sequence[Choice], ids: Sequence[str], list_button: str) -> dict[str, Any]:
    rows = []
    for choice, row_id in zip(choices, ids, strict=True):
        row = {"id": row_id, "title": shorten(choice.title, ROW_TITLE_MAX)}
        if row["title"] != " ".join(choice.title.split()):
            row["description"] = shorten(choice.title, ROW_DESCRIPTION_MAX)  # the full title, as far as it fits
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": shorten(list_button, LIST_BUTTON_MAX), "sections": [{"title": shorten(list_button, ROW_TITLE_MAX), "rows": rows}]},
        },
    }


def template_message(name: str, language: str, parameters: Sequence[str]) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}]
    return {"type": "template", "template": template}
