"""A click group whose subcommands are imported only when one of them runs.

Some subcommands live beside heavy code (the Telegram one next to the Rasa channel, which
pulls in sanic and Rasa), and every `journeybot console` or `announce` process would pay
for importing them. The pattern is click's own "lazily loading subcommands" recipe, plus a
one-line summary per command so that `--help` imports nothing either.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class LazyCommand:
    import_path: str  # "package.module:attribute"
    short_help: str  # shown by --help; tests check it matches the command's own

    def load(self) -> click.Command:
        module_name, _, attribute = self.import_path.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.import_path} is not a click command")
        return command


class LazyGroup(click.Group):
    def __init__(self, *args: object, lazy_commands: dict[str, LazyCommand] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_commands.get(cmd_name)
        if lazy is not None:
            return lazy.load()
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            limit = formatter.width - 6 - len(name)
            lazy = self.lazy_commands.get(name)
            if lazy is not None:
                rows.append((name, click.Command(name, help=lazy.short_help).get_short_help_str(limit)))  # click's own truncation
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
