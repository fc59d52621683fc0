"""Custom Rasa channel connectors (input and output) for journeybot."""
