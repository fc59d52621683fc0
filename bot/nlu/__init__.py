"""Custom Rasa NLU components (spaCy entity rules, emotion). Loaded by module path from config.yml."""
