"""The console process (port 5080): journey HTTP API, later the staff console."""
from bot.console.app import create_app

__all__ = ["create_app"]
