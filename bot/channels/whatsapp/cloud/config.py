"""WhatsApp settings that are not secrets (data/business/whatsapp.yml), validated on load."""
from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from journey_state.replies import BusinessConfigError, _read_yaml

TEMPLATE_PLACEHOLDERS = {"text"}  # {text}: the free-form message the template replaces
_TOP_KEYS = {"session_window", "outside_window_template", "list_button"}


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    body_parameters: tuple[str, ...] = ()

    def parameters_for(self, text: str) -> list[str]:
        # Template parameters may not hold newlines, tabs or runs of spaces (Graph error 132018).
        flat = " ".join(text.split())[:1000] or "-"
        return [p.format(text=flat) for p in self.body_parameters]


@dataclass(frozen=True)
class WhatsAppConfig:
    window: timedelta
    template: Template
    list_button: str = "Choose"


def _fail(path: Path, key: str, problem: str) -> BusinessConfigError:
    return BusinessConfigError(f"{path}: {key}: {problem}")


def _text(raw: Any, path: Path, key: str, max_len: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(path, key, "expected a non-empty string")
    if len(raw) > max_len:
        raise _fail(path, key, f"longer than {max_len} characters")
    return raw.strip()


def load_whatsapp_config(path: Path) -> WhatsAppConfig:
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise _fail(path, "(top level)", "expected a mapping")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise _fail(path, sorted(unknown)[0], f"unknown key; expected one of {', '.join(sorted(_TOP_KEYS))}")

    window_raw = raw.get("session_window") or {}
    if not isinstance(window_raw, dict) or set(window_raw) - {"hours", "safety_margin_minutes"}:
        raise _fail(path, "session_window", "expected a mapping with hours and safety_margin_minutes")
    hours = window_raw.get("hours", 24)
    margin = window_raw.get("safety_margin_minutes", 5)
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 < hours <= 24:
        raise _fail(path, "session_window.hours", "expected a number of hours in (0, 24]; WhatsApp's window is 24 hours")
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not 0 <= margin < hours * 60:
        raise _fail(path, "session_window.safety_margin_minutes", "expected minutes ≥ 0 and shorter than the window")

    tpl = raw.get("outside_window_template")
    key = "outside_window_template"
    if not isinstance(tpl, dict):
        raise _fail(path, key, "expected a mapping with name, language and body_parameters (an approved template)")
    if set(tpl) - {"name", "language", "body_parameters"}:
        raise _fail(path, f"{key}.{sorted(set(tpl) - {'name', 'language', 'body_parameters'})[0]}", "unknown key")
    name = _text(tpl.get("name"), path, f"{key}.name", 512)
    if not all(c.islower() or c.isdigit() or c == "_" for c in name):
        raise _fail(path, f"{key}.name", "template names are lowercase letters, digits and underscores")
    language = _text(tpl.get("language"), path, f"{key}.language", 16)
    params = tpl.get("body_parameters") or []
    if not isinstance(params, list):
        raise _fail(path, f"{key}.body_parameters", "expected a list of strings")
    for i, p in enumerate(params):
        item = f"{key}.body_parameters[{i}]"
        _text(p, path, item, 1024)
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(p) if f is not None}
        except ValueError as exc:
            raise _fail(path, item, f"malformed placeholder: {exc}") from None
        if fields - TEMPLATE_PLACEHOLDERS:
            raise _fail(path, item, f"unknown placeholder {{{sorted(fields - TEMPLATE_PLACEHOLDERS)[0]}}}; only {{text}} is filled in")
    list_button = _text(raw.get("list_button", "Choose"), path, "list_button", 20)
    return WhatsAppConfig(
        window=timedelta(hours=hours) - timedelta(minutes=margin),
        template=Template(name, language, tuple(params)),
        list_button=list_button,
    )
