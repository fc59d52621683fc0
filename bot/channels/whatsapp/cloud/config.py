"""WhatsApp settings that are not secrets (data/business/whatsapp.yml), validated on load."""
from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import validator

from journey_state.config_files import KeyProblem, StrictModel, read_yaml, validate

TEMPLATE_PLACEHOLDERS = {"text"}  # {text}: the free-form message the template replaces


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


def _text(raw: Any, max_len: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("expected a non-empty string")
    if len(raw) > max_len:
        raise ValueError(f"longer than {max_len} characters")
    return raw.strip()


class SessionWindowFile(StrictModel):
    hours: float = 24
    safety_margin_minutes: float = 5

    @validator("hours", pre=True)
    def _hours(cls, value: Any) -> Any:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 24:
            raise ValueError("expected a number of hours in (0, 24]; WhatsApp's window is 24 hours")
        return value

    @validator("safety_margin_minutes", pre=True)
    def _margin(cls, value: Any, values: dict[str, Any]) -> Any:
        hours = values.get("hours", 24)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < hours * 60:
            raise ValueError("expected minutes ≥ 0 and shorter than the window")
        return value


class TemplateFile(StrictModel):
    name: str
    language: str
    body_parameters: list[str] = []

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return "unknown key"

    @validator("name", pre=True, always=True)
    def _name(cls, value: Any) -> str:
        name = _text(value, 512)
        if not all(c.islower() or c.isdigit() or c == "_" for c in name):
            raise ValueError("template names are lowercase letters, digits and underscores")
        return name

    @validator("language", pre=True, always=True)
    def _language(cls, value: Any) -> str:
        return _text(value, 16)

    @validator("body_parameters", pre=True)
    def _parameters(cls, value: Any) -> list[str]:
        value = value or []
        if not isinstance(value, list):
            raise ValueError("expected a list of strings")
        for i, p in enumerate(value):
            try:
                _text(p, 1024)
            except ValueError as exc:
                raise KeyProblem([i], str(exc)) from None
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(p) if f is not None}
            except ValueError as exc:
                raise KeyProblem([i], f"malformed placeholder: {exc}") from None
            if fields - TEMPLATE_PLACEHOLDERS:
                raise KeyProblem([i], f"unknown placeholder {{{sorted(fields - TEMPLATE_PLACEHOLDERS)[0]}}}; only {{text}} is filled in")
        return value


class WhatsAppFile(StrictModel):
    """whatsapp.yml as written; `load_whatsapp_config` turns it into a WhatsAppConfig."""

    session_window: SessionWindowFile = SessionWindowFile()
    outside_window_template: TemplateFile | None = None
    list_button: str = "Choose"

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return f"unknown key; expected one of {', '.join(sorted(allowed))}"

    @validator("session_window", pre=True)
    def _window(cls, value: Any) -> Any:
        value = value or {}
        if not isinstance(value, Mapping) or set(value) - {"hours", "safety_margin_minutes"}:
            raise ValueError("expected a mapping with hours and safety_margin_minutes")
        return value

    @validator("outside_window_template", pre=True, always=True)
    def _template(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping with name, language and body_parameters (an approved template)")
        return value

    @validator("list_button", pre=True, always=True)
    def _list_button(cls, value: Any) -> str:
        return _text(value, 20)


def load_whatsapp_config(path: Path) -> WhatsAppConfig:
    raw = validate(WhatsAppFile, read_yaml(path), path)
    template = raw.outside_window_template
    assert template is not None  # its validator refuses a missing template
    return WhatsAppConfig(
        window=timedelta(hours=raw.session_window.hours) - timedelta(minutes=raw.session_window.safety_margin_minutes),
        template=Template(template.name, template.language, tuple(template.body_parameters)),
        list_button=raw.list_button,
    )
