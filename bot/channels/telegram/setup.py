"""`journeybot telegram ...`: register the Telegram webhook (setWebhook with secret_token).

Reads the channel block of the credentials file (JOURNEYBOT_CREDENTIALS or credentials.yml)
for the names of the token/secret variables and the Bot API URL, so the CLI and the running
channel always agree.
"""
from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import click
import yaml

from bot.channels.telegram.channel import CONFIG_KEY, TelegramConfigError, load_config
from bot.channels.telegram.client import TelegramClient, TelegramError
from bot.settings import load_settings

SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts as secret_token
ALLOWED_UPDATES = ["message", "callback_query"]


def channel_config(credentials_path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(credentials_path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"{credentials_path}: cannot read: {exc}") from None
    if not isinstance(data, dict) or CONFIG_KEY not in data:
        raise click.ClickException(f"{credentials_path}: no {CONFIG_KEY} block; add the Telegram channel first")
    try:
        return load_config(data[CONFIG_KEY])
    except TelegramConfigError as exc:
        raise click.ClickException(str(exc).replace("credentials.yml", str(credentials_path), 1)) from None


def _client(ctx: click.Context) -> tuple[TelegramClient, dict[str, Any]]:
    config = channel_config(Path(ctx.obj["credentials"]))
    token = os.environ.get(config["token_env"])
    if not token:
        raise click.ClickException(f"{config['token_env']} is not set (the bot token from @BotFather)")
    return TelegramClient(token, config["api_base_url"], config["timeout"]), config


def _run(coro):
    try:
        return asyncio.run(coro)
    except TelegramError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option("--credentials", default=lambda: load_settings().credentials,
              show_default="$JOURNEYBOT_CREDENTIALS or credentials.yml", help="Rasa credentials file.")
@click.pass_context
def telegram(ctx: click.Context, credentials: str) -> None:
    """Manage the Telegram webhook."""
    ctx.obj = {"credentials": credentials}


@telegram.command("set-webhook")
@click.option("--url", required=True, help="Public HTTPS URL of Rasa, ending in /webhooks/telegram/webhook.")
@click.option("--drop-pending", is_flag=True, help="Discard updates Telegram queued while no webhook answered.")
@click.pass_context
def set_webhook(ctx: click.Context, url: str, drop_pending: bool) -> None:
    """Point Telegram at URL and make it send the secret header with every update."""
    client, config = _client(ctx)
    if not url.startswith("https://"):
        raise click.ClickException(f"--url must be https:// (Telegram only delivers to HTTPS): {url}")
    if not url.rstrip("/").endswith("/webhooks/telegram/webhook"):
        click.echo(f"warning: {url} does not end in /webhooks/telegram/webhook", err=True)
    secret = os.environ.get(config["secret_env"])
    if not secret:
        raise click.ClickException(f"{config['secret_env']} is not set; generate one with: "
                                   "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if not SECRET_PATTERN.fullmatch(secret):
        raise click.ClickException(f"{config['secret_env']} may only hold 1-256 characters A-Z a-z 0-9 _ -")
    _run(client.set_webhook(url, secret, ALLOWED_UPDATES, drop_pending))
    click.echo(f"webhook set: {url} (secret from {config['secret_env']}; updates: {', '.join(ALLOWED_UPDATES)})")


@telegram.command("webhook-info")
@click.pass_context
def webhook_info(ctx: click.Context) -> None:
    """Show what Telegram knows about the webhook (URL, pending updates, last error)."""
    client, _ = _client(ctx)
    info = _run(client.get_webhook_info()) or {}
    for key in ("url", "pending_update_count", "last_error_date", "last_error_message", "allowed_updates"):
        if key in info:
            click.echo(f"{key}: {info[key]}")


@telegram.command("delete-webhook")
@click.pass_context
def delete_webhook(ctx: click.Context) -> None:
    """Stop Telegram delivering updates to the webhook."""
    client, _ = _client(ctx)
    _run(client.delete_webhook())
    click.echo("webhook deleted")
