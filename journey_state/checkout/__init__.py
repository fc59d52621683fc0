"""Checkout links: a customer who wants to buy gets a link to pay, and what becomes of it is recorded.

config.py   the `checkout:` section of commerce.yml (a URL template per product)
links.py    issue, resend, open (tracking redirect), paid, timed out
answer.py   what the chat says for a purchase request or "where's the link?"
"""
