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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol

from journey_state.loyalty import read_programs, section, whole
from journey_state.model import JourneyModel
from journey_state.config_files import config_error

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

    def __post_init__(self):
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


def parse_referrals(data: Any, source: str, models: Iterable[JourneyModel] = ()) -> ReferralSettings:
    """Validate the `referrals` section; with `models`, every model needs a known advocacy stage."""
    key = "referrals"
    data = section(data, source, key, {"code", "rewards", "advocates"})
    code = section(data.get("code") or {}, source, f"{key}.code", {"prefix", "length"})
    prefix = code.get("prefix", "")
    if prefix is None:
        prefix = ""
    if not isinstance(prefix, str) or (prefix and not _PREFIX.match(prefix)):
        raise config_error(source, f"{key}.code.prefix", f"{prefix!r}: use 1-16 upper-case letters or digits, starting with a letter")
    longest = MAX_CODE - len(prefix) - 1
    length = whole(code.get("length", 6), source, f"{key}.code.length", 4)
    if length > longest:
        raise config_error(source, f"{key}.code.length", f"at most {longest} with prefix {prefix!r} (codes are at most {MAX_CODE} characters)")

    rewards = section(data.get("rewards"), source, f"{key}.rewards", {"referrer_points", "referred_points"})
    for name in ("referrer_points", "referred_points"):
        if name not in rewards:
            raise config_error(source, f"{key}.rewards.{name}", "required: loyalty points, 0 or more")
    referrer = whole(rewards["referrer_points"], source, f"{key}.rewards.referrer_points")
    referred = whole(rewards["referred_points"], source, f"{key}.rewards.referred_points")

    adv = section(data.get("advocates"), source, f"{key}.advocates", {"min_nps", "min_review_rating", "stages"})
    min_nps = whole(adv.get("min_nps", 9), source, f"{key}.advocates.min_nps")
    if min_nps > 10:
        raise config_error(source, f"{key}.advocates.min_nps", f"NPS goes from 0 to 10, got {min_nps}")
    min_rating = whole(adv.get("min_review_rating", 4), source, f"{key}.advocates.min_review_rating", 1)
    if min_rating > 5:
        raise config_error(source, f"{key}.advocates.min_review_rating", f"reviews are rated 1 to 5, got {min_rating}")
    stages = adv.get("stages")
    if not isinstance(stages, Mapping):
        raise config_error(source, f"{key}.advocates.stages", "expected a mapping of journey model id to its advocacy stage")
    models = {m.id: m for m in models}
    for model_id, stage in stages.items():
        skey = f"{key}.advocates.stages.{model_id}"
        if models and model_id not in models:
            raise config_error(source, skey, f"unknown journey model {model_id!r} (models: {', '.join(sorted(models))})")
        if not isinstance(stage, str) or not stage:
            raise config_error(source, skey, "expected a stage id")
        if model_id in models and not models[model_id].has_stage(stage):
            raise config_error(source, skey, f"unknown stage {stage!r} (stages: {', '.join(models[model_id].stage_ids)})")
    for model_id in sorted(models):
        if model_id not in stages:
            raise config_error(source, f"{key}.advocates.stages.{model_id}", f"missing: the advocacy stage of journey model {model_id!r}")
    return ReferralSettings(
        code=CodeFormat(prefix, length),
        referrer_points=referrer,
        referred_points=referred,
        advocates=AdvocateRules(min_nps, min_rating, dict(stages)),
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
