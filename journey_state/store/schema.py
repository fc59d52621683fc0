"""The schema registry: every table journeybot owns, on one `metadata`.

Alembic (journey_state/migrations/env.py), `create_all` in tests and the GDPR checks read
the schema from here. Importing this module imports every table module, so `metadata` is
complete whichever module was imported first. A new table module is added to the imports
below; tests/unit/test_migrations.py fails if a migrated table is missing from OWN_TABLES.
Nothing here imports bot/: channel state tables live in journey_state/store/channel_tables.py.
"""
from __future__ import annotations

from journey_state.commerce import tables as commerce_tables
from journey_state.store import channel_tables, checkout_tables, review_tables, staff_tables, tables
from journey_state.store.base import metadata

TABLE_MODULES = (tables, staff_tables, channel_tables, commerce_tables, review_tables, checkout_tables)

OWN_TABLES = frozenset(metadata.tables)

__all__ = ["OWN_TABLES", "TABLE_MODULES", "metadata"]
