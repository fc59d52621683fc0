"""Database errors become StoreUnavailable in one place (journey_state/store/errors.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from journey_state.errors import StoreUnavailable
from journey_state.store.errors import NOT_MIGRATED, unavailable_as_error


def test_a_missing_table_says_how_to_create_the_schema(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}", future=True)
    with pytest.raises(StoreUnavailable) as err, unavailable_as_error("staff sessions unavailable"), engine.connect() as conn:
        conn.execute(text("SELECT * FROM staff_sessions"))
    assert str(err.value) == NOT_MIGRATED


def test_while_migrating_a_missing_table_is_reported_as_it_is(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}", future=True)
    with pytest.raises(StoreUnavailable, match=r"^cannot migrate journey database: no such table: nowhere$"):
        with unavailable_as_error("cannot migrate journey database", missing_tables=None), engine.connect() as conn:
            conn.execute(text("SELECT * FROM nowhere"))


def test_an_unreachable_database_names_what_is_unavailable(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", future=True)
    with pytest.raises(StoreUnavailable, match=r"^telegram state unavailable: unable to open database file$"):
        with unavailable_as_error("telegram state unavailable"), engine.connect():
            pass


def test_other_errors_pass_through(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", future=True)
    with pytest.raises(ZeroDivisionError), unavailable_as_error(), engine.connect():
        1 / 0
