"""Reading and validating configuration files (data/business/*.yml, data/journeys/*.yml).

Every loader goes through here so that a bad file is refused the same way everywhere:
the message starts with the file and the key path (``offers.yml: offers[2].priority: ...``),
whether the check was written by hand or is a pydantic model's.
"""
from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, Extra, ValidationError, root_validator
from pydantic.errors import PydanticValueError

from journey_state.errors import JourneyModelError
from journey_state.text import storable_problem

M = TypeVar("M", bound=BaseModel)
Loc = Sequence[int | str]


class BusinessConfigError(JourneyModelError):
    """Business configuration (replies, facts, offers...) is invalid; names file and key."""


def config_error(
    source: str | Path, key: str, message: str, error: type[JourneyModelError] = BusinessConfigError
) -> JourneyModelError:
    """The error for `key` in `source`, worded like every other configuration error."""
    return error(f"{source}: {key}: {message}")


def read_yaml(
    path: Path, error: type[JourneyModelError] = BusinessConfigError, kind: str | None = None,
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
) -> Any:
    """The parsed YAML document; unreadable, non-UTF-8, malformed or absurdly nested files raise `error` naming the file.

    `kind` ("catalog", "journey model") words the message; `loader` must be a SafeLoader (or a subclass).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read{f' {kind}' if kind else ''}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        data = yaml.load(text, Loader=loader)
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise error(f"{path}: nested too deeply to be a {kind or 'configuration file'}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise error(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    unstorable = _unstorable_text(data, [])
    if unstorable:
        at, problem = unstorable
        raise error(f"{path}: {key_path(at)}: {problem}")
    return data


def _unstorable_text(value: Any, at: list[int | str]) -> tuple[list[int | str], str] | None:
    """Where a text of the document cannot be stored or sent, and why.

    YAML's "\\udc80" and "\\0" escapes make lone surrogates and NUL, which the tracker store
    cannot encode: a reply or follow-up holding one would fail every turn that sends it.
    """
    if isinstance(value, str):
        problem = storable_problem(value)
        return (at, problem) if problem else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _unstorable_text(key, at) or _unstorable_text(item, [*at, str(key)])
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_text(item, [*at, index])
            if found:
                return found
    return None


def placeholder_problem(text: str) -> str | None:
    """What is wrong with the {placeholders} of `text`, if anything: only plain names like {business_name}."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return f"bad placeholder: {exc}"
    for name, spec, conv in fields:
        if not name.isidentifier():
            return f"placeholder {{{name}}} must be a name like {{business_name}}"
        if spec or conv:
            return f"placeholder {{{name}}} cannot have a format or conversion"
    return None


def check_placeholders(text: str, source: str | Path, key: str) -> None:
    """`placeholder_problem` as a configuration error naming the file and key."""
    problem = placeholder_problem(text)
    if problem:
        raise config_error(source, key, problem)


def key_path(loc: Loc) -> str:
    """('offers', 2, 'priority') -> 'offers[2].priority', the way the files are documented."""
    out = ""
    for part in loc:
        if part == "__root__":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


class KeyProblem(PydanticValueError):
    """Raised by a model validator about a key below the one it validates (an unknown key, a list item)."""

    code = "key"
    msg_template = "{message}"

    def __init__(self, sub: Loc, message: str) -> None:
        super().__init__(sub=tuple(sub), message=message)


class StrictModel(BaseModel):
    """A configuration section: unknown keys are refused, naming the keys that are allowed."""

    class Config:
        extra = Extra.forbid
        allow_mutation = False

    # Keys that, when missing, reach their field validator as None, so that a missing value is
    # refused in the same words as a wrong one ("expected a list, got NoneType").
    missing_as_none: ClassVar[tuple[str, ...]] = ()
    # Keys the section must have, each with what to say when it is missing; checked in this
    # order, after unknown keys and before any field validator.
    required_keys: ClassVar[Mapping[str, str]] = {}

    @root_validator(pre=True)
    def _known_keys_only(cls, values: Any) -> Any:
        if isinstance(values, Mapping):
            allowed = [f.alias for f in cls.__fields__.values()]
            for key in values:
                if key not in allowed:
                    raise KeyProblem(cls.unknown_key_at(str(key)), cls.unknown_key_message(str(key), allowed))
            for key, message in cls.required_keys.items():
                if key not in values:
                    raise KeyProblem([key], message)
            values = {**dict.fromkeys(cls.missing_as_none), **values}
        return values

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return f"unknown key (use {', '.join(allowed)})"

    @classmethod
    def unknown_key_at(cls, key: str) -> list[int | str]:
        """Where an unknown key is reported, below this section (default: at the key itself)."""
        return [key]


# pydantic's own wording for the few checks no validator of ours words better.
_PLAIN = {
    "value_error.missing": "required",
    "type_error.dict": "expected a mapping",
    "type_error.list": "expected a list",
}


def first_problem(exc: ValidationError) -> tuple[list[int | str], str]:
    """The location and message of the first error pydantic found."""
    first = exc.errors()[0]
    loc: list[int | str] = [p for p in first["loc"] if p != "__root__"]
    if first["type"] == "value_error.key":
        loc += list(first["ctx"]["sub"])
    return loc, _PLAIN.get(first["type"], str(first["msg"]))


def validate(
    model: type[M], data: Any, source: str | Path, error: type[JourneyModelError] = BusinessConfigError,
    expected: str = "expected a mapping", at: Loc = (),
) -> M:
    """`data` (found at key `at` of the file) as a `model`, or `error` naming the source file and the key path."""
    if not isinstance(data, Mapping):
        raise config_error(source, key_path(at), expected, error)
    try:
        return model.parse_obj(data)
    except ValidationError as exc:
        loc, message = first_problem(exc)
        raise config_error(source, key_path([*at, *loc]), message, error) from None


def whole_number(value: Any, minimum: int | None = 0) -> int:
    """A validator's check for counts and points: YAML's true and 2.5 are not whole numbers."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    return value
