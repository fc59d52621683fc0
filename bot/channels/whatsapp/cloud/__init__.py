"""WhatsApp Cloud API (Meta Graph) connector; the package re-exports the input so credentials.yml names `bot.channels.whatsapp.cloud.WhatsAppInput`."""
from bot.channels.whatsapp.cloud.channel import WhatsAppInput

__all__ = ["WhatsAppInput"]
