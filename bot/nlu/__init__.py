"""NLU: the custom Rasa components (spaCy entity rules, emotion; loaded by module path from config.yml)
and `journeybot eval-nlu`'s evaluation of a trained model (evaluation.py)."""
