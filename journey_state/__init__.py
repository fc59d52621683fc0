"""journeybot's journey domain: models, engine, store. Independent of Rasa."""
