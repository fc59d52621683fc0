"""Typed errors raised by the journey domain."""


class JourneyError(Exception):
    """Base class for journey domain errors."""


class JourneyModelError(JourneyError):
    """A journey model file is malformed or invalid; the message names file and key."""


class ContactNotFound(JourneyError):
    """No contact matches the given reference."""


class StoreUnavailable(JourneyError):
    """The journey database cannot be reached or is not migrated."""
