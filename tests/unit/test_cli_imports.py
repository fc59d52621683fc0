"""`import bot.cli` stays light: no subcommand drags sanic or Rasa into `journeybot console` or `--help`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
HEAVY = ("rasa", "sanic", "rasa_sdk", "tensorflow")


def imported_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_cli_imports_neither_rasa_nor_sanic():
    assert heavy(imported_after("import bot.cli")) == []


def test_help_lists_every_command_without_importing_them():
    modules = imported_after(
        "from click.testing import CliRunner\nfrom bot.cli import main\n"
        "out = CliRunner().invoke(main, ['--help']).output\n"
        "assert all(name in out for name in ('telegram', 'create-user', 'report', 'simulate', 'console')), out"
    )
    assert heavy(modules) == []
    assert "bot.channels.telegram.setup" not in modules and "bot.analytics_cli" not in modules


def test_building_the_console_app_imports_neither_rasa_nor_sanic():
    assert heavy(imported_after("from bot.console import create_app")) == []


@pytest.mark.parametrize("name", ["telegram", "create-user", "report", "simulate"])
def test_a_lazy_command_loads_and_its_summary_is_its_own(name):
    from click import Context

    from bot.cli import LAZY_COMMANDS, main

    command = main.get_command(Context(main), name)
    assert command is not None and command.name == name
    assert LAZY_COMMANDS[name].short_help == command.get_short_help_str(limit=1000)
