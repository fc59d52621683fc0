"""journeybot runtime around Rasa: settings, console/API, CLI, launcher, channels."""
