"""The action server's journey services: bot.services' one per process, built when
`journeybot actions` starts (or on first use in tests), never at import."""
from __future__ import annotations

from bot import services as composition
from bot.services import Services

__all__ = ["Services", "reset", "services"]


def services() -> Services:
    return composition.shared()


def reset() -> None:
    """Forget the built services (tests switch databases and settings)."""
    composition.reset()
