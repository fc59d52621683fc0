"""Referrals: settings (data/business/programs.yml, section `referrals`) and pure helpers.

Only advocates are asked to refer: a latest NPS answer of at least `min_nps`, a latest
review rated at least `min_review_rating`, or being in the advocacy stage of their
journey model. Each advocate gets a unique code like AURORA-7KXM2Q, drawn from an
alphabet without look-alikes (no 0/O, 1/I). A new contact who arrives with a code is
attributed to its owner once, and both get the configured loyalty points.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import validator

from journey_state.config_files import (
    KeyProblem,
    StrictModel,
    config_error,
    validate,
    whole_number,
)
from journey_state.loyalty import read_programs
from journey_state.model import JourneyModel

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0, O, 1, I
MAX_CODE = 32  # referral_codes.code
_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")
_NOISE = re.compile(r"[\s\-_.]")


class InvalidReferralCode(ValueError):
    """Text that cannot be a referral code (wrong length or characters)."""


class _Rng(Protocol):
    def choice(self, seq: str) -> str: ...


@dataclass(frozen=True)
class CodeFormat:
    prefix: str = "AURORA"
    length: int = 6

    def __post_init__(self) -> None:
        if self.prefix and not _PREFIX.match(self.prefix):
            raise ValueError(f"bad code prefix {self.prefix!r}")
        if not 4 <= self.length <= MAX_CODE - len(self.prefix) - 1:
            raise ValueError(f"bad code length {self.length}")


@dataclass(frozen=True)
class AdvocateRules:
    min_nps: int = 9
    min_review_rating: int = 4
    stages: Mapping[str, str] = field(default_factory=lambda: {"b2c": "advocacy", "b2b": "loyalty"})


@dataclass(frozen=True)
class ReferralSettings:
    code: CodeFormat = CodeFormat()
    referrer_points: int = 300
    referred_points: int = 150
    advocates: AdvocateRules = AdvocateRules()


def is_advocate(
    rules: AdvocateRules,
    model_id: str,
    stage: str,
    last_nps: int | None = None,
    last_review_rating: int | None = None,
) -> bool:
    """True if any one rule holds: NPS, review rating, or the model's advocacy stage."""
    if last_nps is not None and last_nps >= rules.min_nps:
        return True
    if last_review_rating is not None and last_review_rating >= rules.min_review_rating:
        return True
    return rules.stages.get(model_id) == stage


def generate_code(rng: _Rng | None = None, fmt: CodeFormat = CodeFormat()) -> str:
    """A fresh code like AURORA-7KXM2Q. `rng` (anything with .choice) makes it reproducible in tests."""
    rng = rng or secrets.SystemRandom()
    body = "".join(rng.choice(ALPHABET) for _ in range(fmt.length))
    return f"{fmt.prefix}-{body}" if fmt.prefix else body


def normalise_code(raw: Any, fmt: CodeFormat = CodeFormat()) -> str:
    """The canonical form of a code as a customer might type it: 'aurora 7kxm2q', '7KXM2Q', 'AURORA-7KXM2Q'."""
    if not isinstance(raw, str):
        raise InvalidReferralCode("a referral code is text")
    text = _NOISE.sub("", raw.strip().upper())
    body = text
    if fmt.prefix and text.startswith(fmt.prefix) and len(text) == len(fmt.prefix) + fmt.length:
        body = text[len(fmt.prefix):]
    if len(body) != fmt.length or any(ch not in ALPHABET for ch in body):
        shown = raw.strip()[:40]
        raise InvalidReferralCode(f"{shown!r} is not a referral code; codes look like {example_code(fmt)}")
    return f"{fmt.prefix}-{body}" if fmt.prefix else body


def example_code(fmt: CodeFormat = CodeFormat()) -> str:
    """A readable example for messages, e.g. AURORA-7KXM2Q."""
    body = ("7KXM2QH4P9" * 4)[: fmt.length]
    return f"{fmt.prefix}-{body}" if fmt.prefix else body


# -- configuration ---------------------------------------------------------------------


class CodeSection(StrictModel):
    prefix: str = ""
    length: int = 6

    @validator("prefix", pre=True)
    def _prefix(cls, value: Any) -> Any:
        value = "" if value is None else value
        if not isinstance(value, str) or (value and not _PREFIX.match(value)):
            raise ValueError(f"{value!r}: use 1-16 upper-case letters or digits, starting with a letter")
        return value

    @validator("length", pre=True)
    def _length(cls, value: Any, values: dict[str, Any]) -> int:
        length = whole_number(value, 4)
        prefix = values.get("prefix", "")
        longest = MAX_CODE - len(prefix) - 1
        if length > longest:
            raise ValueError(f"at most {longest} with prefix {prefix!r} (codes are at most {MAX_CODE} characters)")
        return length


class RewardsSection(StrictModel):
    referrer_points: int = 0
    referred_points: int = 0

    required_keys: ClassVar[Mapping[str, str]] = dict.fromkeys(
        ("referrer_points", "referred_points"), "required: loyalty points, 0 or more")

    @validator("referrer_points", "referred_points", pre=True)
    def _points(cls, value: Any) -> int:
        return whole_number(value)


class AdvocatesSection(StrictModel):
    min_nps: int = 9
    min_review_rating: int = 4
    stages: dict[str, str] = {}

    @validator("min_nps", pre=True)
    def _nps(cls, value: Any) -> int:
        if whole_number(value) > 10:
            raise ValueError(f"NPS goes from 0 to 10, got {value}")
        return int(value)

    @validator("min_review_rating", pre=True)
    def _rating(cls, value: Any) -> int:
        if whole_number(value, 1) > 5:
            raise ValueError(f"reviews are rated 1 to 5, got {value}")
        return int(value)

    @validator("stages", pre=True, always=True)
    def _stages(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of journey model id to its advocacy stage")
        for model_id, stage in value.items():
            if not isinstance(stage, str) or not stage:
                raise KeyProblem([str(model_id)], "expected a stage id")
        return value


class ReferralsSection(StrictModel):
    code: CodeSection = CodeSection()
    rewards: RewardsSection
    advocates: AdvocatesSection

    @validator("code", pre=True)
    def _code(cls, value: Any) -> Any:
        return value or {}


def _check_stages(stages: Mapping[str, str], models: Mapping[str, JourneyModel], source: str) -> None:
    """Every journey model needs its advocacy stage, and only known models and stages may be named."""
    key = "referrals.advocates.stages"
    for model_id, stage in stages.items():
        if model_id not in models:
            raise config_error(source, f"{key}.{model_id}", f"unknown journey model {model_id!r} (models: {', '.join(sorted(models))})")
        if not models[model_id].has_stage(stage):
            raise config_error(source, f"{key}.{model_id}", f"unknown stage {stage!r} (stages: {', '.join(models[model_id].stage_ids)})")
    for model_id in sorted(models):
        if model_id not in stages:
            raise config_error(source, f"{key}.{model_id}", f"missing: the advocacy stage of journey model {model_id!r}")


def parse_referrals(data: Any, source: str, models: Iterable[JourneyModel] = ()) -> ReferralSettings:
    """Validate the `referrals` section; with `models`, every model needs a known advocacy stage."""
    raw = validate(ReferralsSection, data, source, at=["referrals"])
    by_id = {m.id: m for m in models}
    if by_id:
        _check_stages(raw.advocates.stages, by_id, source)
    return ReferralSettings(
        code=CodeFormat(raw.code.prefix, raw.code.length),
        referrer_points=raw.rewards.referrer_points,
        referred_points=raw.rewards.referred_points,
        advocates=AdvocateRules(raw.advocates.min_nps, raw.advocates.min_review_rating, dict(raw.advocates.stages)),
    )


def load_referrals(business_dir: str | Path, models: Iterable[JourneyModel] = ()) -> ReferralSettings:
    source, data = read_programs(business_dir)
    if "referrals" not in data:
        raise config_error(source, "referrals", "required: the referral programme settings")
    return parse_referrals(data["referrals"], source, models)


def find_code(text: str, fmt: CodeFormat = CodeFormat()) -> str | None:
    """The referral code mentioned in a message ('my code is aurora 7kxm2q', '/start AURORA-7KXM2Q'), or None."""
    if not isinstance(text, str):
        return None
    candidates = []
    if fmt.prefix:
        candidates += re.findall(rf"\b{re.escape(fmt.prefix)}[\s\-_]?([A-Za-z0-9]{{{fmt.length}}})\b", text, re.IGNORECASE)
    candidates += re.findall(rf"\bcode\W{{0,3}}(?:is\W{{1,3}})?([A-Za-z0-9]{{{fmt.length}}})\b", text, re.IGNORECASE)
    for body in candidates:
        try:
            return normalise_code(body, fmt)
        except InvalidReferralCode:
            continue
    return None
