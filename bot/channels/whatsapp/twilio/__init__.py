"""WhatsApp through Twilio's Messaging API; the package re-exports the input so credentials.yml names `bot.channels.whatsapp.twilio.TwilioWhatsAppInput`."""
from bot.channels.whatsapp.twilio.channel import TwilioWhatsAppInput

__all__ = ["TwilioWhatsAppInput"]
