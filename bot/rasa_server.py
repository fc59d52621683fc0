"""`journeybot rasa`: `rasa run` with the API token from the environment, our bind address and CORS origins.

`rasa run --auth-token T` puts T in /proc/<pid>/cmdline, readable by every local user and
kept by process listings and crash reports. This entry point reads the token from
JOURNEYBOT_RASA_TOKEN and hands it to Rasa's own CLI in-process: the arguments live only in
this process's memory (sys.argv is not the kernel's copy of the command line), and Rasa's
start-up (logging, telemetry, plugins, model loading) stays exactly that of `rasa run`.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from bot.settings import Settings

TOKEN_ENV = "JOURNEYBOT_RASA_TOKEN"
# Set by this entry point from settings; refused on its command line so there is one source.
OWN_OPTIONS = {"--auth-token": TOKEN_ENV, "--interface": "JOURNEYBOT_BIND", "-i": "JOURNEYBOT_BIND",
               "--cors": "JOURNEYBOT_CORS_ORIGINS", "--enable-api": None}


class RasaArgumentError(ValueError):
    pass


def rasa_argv(args: Sequence[str], settings: Settings, token: str | None) -> list[str]:
    """The argument list for Rasa's CLI: `rasa run ARGS` plus the API, token, interface and CORS."""
    if not token:
        raise RasaArgumentError(f"{TOKEN_ENV} is not set; without it Rasa's HTTP API would accept anyone")
    for arg in args:
        option = arg.split("=", 1)[0]
        if option in OWN_OPTIONS:
            source = OWN_OPTIONS[option]
            raise RasaArgumentError(f"{option} is set by `journeybot rasa`" + (f"; use {source}" if source else ""))
    return ["rasa", "run", *args, "--enable-api", "--auth-token", token,
            "--interface", settings.bind, "--cors", *settings.cors_origins]


def run(argv: list[str]) -> None:
    from rasa.__main__ import main

    sys.argv = argv
    main()
