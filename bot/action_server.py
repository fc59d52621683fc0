"""The action server: rasa_sdk's app, on our bind address, answering only callers with the shared secret.

`rasa run actions` always listens on 0.0.0.0 (rasa_sdk.endpoint.run reads only SANIC_HOST)
and accepts any caller, so anyone who reaches the port could post a made-up tracker and
mint referral codes or fill the handoff queue. Rasa sends the secret in the header named
below (endpoints.yml `action_endpoint.headers`).
"""
from __future__ import annotations

import logging

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from journey_state.secret_compare import same_secret

TOKEN_ENV = "JOURNEYBOT_ACTIONS_TOKEN"
TOKEN_HEADER = "X-Journeybot-Actions-Token"
OPEN_PATHS = frozenset({"/health"})


def require_token(app: Sanic, token: str) -> None:
    """Refuse every request but the health check unless it carries `token` in TOKEN_HEADER."""
    if not token:
        raise ValueError(f"{TOKEN_ENV} is empty")

    @app.middleware("request")
    async def check_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(TOKEN_HEADER)
        if given is None:
            return response.json({"error": f"missing {TOKEN_HEADER} header; only the Rasa server may call actions"}, status=401)
        if not same_secret(given, token):
            return response.json({"error": f"wrong {TOKEN_HEADER} header; only the Rasa server may call actions"}, status=401)
        return None


def create_app(token: str, actions_package: str = "actions") -> Sanic:
    """rasa_sdk's own app (same routes and executor as `rasa run actions`) behind the token check."""
    from rasa_sdk.endpoint import create_app as sdk_app
    from rasa_sdk.plugin import plugin_manager

    # No CORS: browsers have no business calling the action server.
    app = sdk_app(actions_package, cors_origins="")
    require_token(app, token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


def serve(host: str, port: int, token: str, actions_package: str = "actions") -> None:
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME

    utils.configure_colored_logging(logging.INFO)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), None, logging.INFO, None)
    utils.update_sanic_log_level()
    app = create_app(token, actions_package)
    logging.getLogger(__name__).info("Action endpoint is up and running on http://%s:%s", host, port)
    app.run(host, port, workers=utils.number_of_sanic_workers())
