"""The review loop: group the messages the bot did not understand, export their labels as NLU data."""
