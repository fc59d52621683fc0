"""Rasa credentials with the socket.io channel the web widget uses, for e2e tests."""
from __future__ import annotations

from pathlib import Path

# The same block credentials.yml ships: Rasa's socket.io channel with journeybot's fixes
# (bot/channels/webchat/channel.py); session_persistence makes the client's session id the sender id
# and puts every connection of that session in one room.
SOCKETIO_CREDENTIALS = """\
bot.channels.rest.RestInput:
bot.channels.webchat.WebChatInput:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: true
"""


def socketio_env(directory: Path) -> dict[str, str]:
    """extra_env for stack_factory: Rasa reads this credentials file (REST + socket.io)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "credentials.yml"
    path.write_text(SOCKETIO_CREDENTIALS, encoding="utf-8")
    return {"JOURNEYBOT_CREDENTIALS": str(path)}
