"""The console's routes, read from its Flask url_map, so a new route is fuzzed without editing the suite."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    rule: str  # "/api/contacts/<contact_id>/timeline"
    method: str
    endpoint: str
    params: tuple[tuple[str, str], ...]  # (name, converter: "int" | "string" | "path" | ...)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def console_routes() -> list[Route]:
    """Every (rule, method) of the console app, built exactly as `journeybot console` builds it."""
    from bot.console.app import create_app
    from bot.settings import load_settings
    from journey_state.store.migrate import upgrade

    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite:///{Path(work) / 'routes.db'}"
        upgrade(url)
        env = {**os.environ, "JOURNEYBOT_DATABASE_URL": url, "JOURNEYBOT_API_TOKEN": "routes-only", "JOURNEYBOT_VAR_DIR": work}
        app = create_app(load_settings(env))
        routes = []
        for rule in app.url_map.iter_rules():
            converters = tuple((name, type(conv).__name__.removesuffix("Converter").lower())
                               for name, conv in rule._converters.items())
            for method in sorted(set(rule.methods or ()) - IGNORED_METHODS):
                routes.append(Route(rule.rule, method, rule.endpoint, converters))
        app.extensions["journey_store"].engine.dispose()
    return sorted(routes, key=str)
