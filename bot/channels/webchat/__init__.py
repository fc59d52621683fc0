"""Web chat (socket.io) connector; the package re-exports the input so credentials.yml names `bot.channels.webchat.WebChatInput`."""
from bot.channels.webchat.channel import WebChatInput

__all__ = ["WebChatInput"]
