"""Migration 0003 creates exactly what the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hotline.db import make_engine
from hotline.models import Base

TABLES = {"booking_rules", "bookings", "booking_seats", "calendar_overrides", "booking_no_shows"}


def _touches_booking_tables(diff) -> bool:
    ops = diff if isinstance(diff, list) else [diff]
    text = repr(ops)
    return any(f"'{t}'" in text or f"<{t}>" in text for t in TABLES)


def test_models_match_migration(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            uniques = {ix["name"] for ix in inspect(conn).get_indexes("bookings") if ix["unique"]}
    finally:
        engine.dispose()
    assert [d for d in diffs if _touches_booking_tables(d)] == []
    assert "uq_bookings_phone_item_active" in uniques
