"""WhatsApp connectors: what the Cloud API and Twilio providers share (routing, rendering, session store) lives here, each provider in its own sub-package."""
