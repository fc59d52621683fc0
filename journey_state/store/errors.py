"""Database errors as journeybot errors: the one place a driver error becomes StoreUnavailable.

Every reader and writer of the journey database (the store, staff sessions, channel state,
identity proofs, the dashboards, migrations) wraps its database work in
`unavailable_as_error`, so a customer or an operator sees the same plain reason, and a
missing schema always says how to create it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from journey_state.errors import StoreUnavailable

# PostgreSQL deadlock_detected and serialization_failure: the transaction was rolled back
# and running it again is safe.
RETRYABLE_PGCODES = frozenset({"40P01", "40001"})
UNDEFINED_TABLE_PGCODE = "42P01"
NOT_MIGRATED = "the journey database has no journeybot tables; run `journeybot db upgrade`"
JOURNEY_DATABASE = "journey database unavailable"


class StoreBusy(StoreUnavailable):
    """PostgreSQL aborted the transaction (deadlock or serialization failure); it may be run again."""


def pgcode(exc: DBAPIError) -> str | None:
    code = getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_retryable(exc: DBAPIError) -> bool:
    """True for an error after which the whole transaction may simply be run again."""
    return pgcode(exc) in RETRYABLE_PGCODES


def reason(exc: DBAPIError) -> str:
    """The driver's message, first line only (the rest may quote the statement)."""
    return (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]


@contextmanager
def unavailable_as_error(prefix: str = JOURNEY_DATABASE, missing_tables: str | None = NOT_MIGRATED) -> Iterator[None]:
    """Raise StoreUnavailable ("<prefix>: <reason>") for a database that cannot be used.

    A missing table raises `missing_tables` instead (the database was never migrated);
    pass None where tables are expected to be missing (while migrating). A deadlock or
    serialization failure raises StoreBusy, which a unit of work may retry. Programming
    errors other than a missing table are bugs and propagate unchanged.
    """
    try:
        yield
    except OperationalError as exc:
        if is_retryable(exc):
            raise StoreBusy(f"{prefix}: too busy (deadlock); try again") from exc
        if missing_tables is not None and "no such table" in str(exc.orig):
            raise StoreUnavailable(missing_tables) from None
        raise StoreUnavailable(f"{prefix}: {reason(exc)}") from None
    except ProgrammingError as exc:
        if missing_tables is not None and pgcode(exc) == UNDEFINED_TABLE_PGCODE:
            raise StoreUnavailable(missing_tables) from None
        raise
