"""Front-end bundles served from bot/console/web/node_modules (installed by `npm ci`), never a CDN."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from flask import Response

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).with_name("web")
NODE_MODULES = WEB_DIR / "node_modules"
CACHE_SECONDS = 3600


def warn_if_missing(bundle: Path, what: str) -> None:
    """Log once at start-up when `npm ci` has not been run."""
    if not bundle.is_file():
        logger.warning("journeybot: %s not installed (%s missing); run `npm ci` in %s (make run does it)", what, bundle, WEB_DIR)


def script_response(bundle: Path, what: str, transform: Callable[[bytes], bytes] | None = None) -> Response:
    """The bundle as JavaScript (cached until the file changes); a 503 script naming the fix if it is missing."""
    if not bundle.is_file():
        message = f"journeybot: {what} not installed; run `npm ci` in {WEB_DIR} (make run does it)"
        return Response(f"console.error({json.dumps(message)});\n", status=503, mimetype="text/javascript")
    response = Response(_read(bundle, bundle.stat().st_mtime_ns, transform), mimetype="text/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = CACHE_SECONDS
    return response


@lru_cache(maxsize=8)
def _read(bundle: Path, mtime_ns: int, transform: Callable[[bytes], bytes] | None) -> bytes:
    body = bundle.read_bytes()
    return transform(body) if transform else body
