"""The Rasa agent of this server process, for channel code that runs around Rasa's own handler."""
from __future__ import annotations

from typing import Any

from sanic import Sanic
from sanic.exceptions import SanicException

# The names rasa.server.create_app and rasa.core.run.configure_app give their Sanic apps.
RASA_APPS = ("rasa_server", "rasa_core_no_api")


def running_agent() -> Any | None:
    """Rasa's Agent serving this process (tracker store, lock store), or None outside a Rasa server."""
    for name in RASA_APPS:
        try:
            return getattr(Sanic.get_app(name).ctx, "agent", None)
        except SanicException:
            continue
    return None
