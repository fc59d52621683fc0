"""Custom actions (rasa_sdk). Thin: read the tracker, ask journey_state, dispatch."""
