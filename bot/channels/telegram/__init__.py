"""Telegram Bot API connector; the package re-exports the input so credentials.yml names `bot.channels.telegram.TelegramInput`."""
from bot.channels.telegram.channel import TelegramInput

__all__ = ["TelegramInput"]
