"""Booking fixtures: a store on a real migrated database with two bookable items, and a fixed clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from booking.slots import SlotPolicy
from booking.store import BookingStore

# Monday 2026-11-30, 10:07 at the centre.
NOW = datetime(2026, 11, 30, 10, 7)
DOG = "GA-001"
CARD = "RS-002"


def make_store(url: str, capacity: int = 3, **policy) -> BookingStore:
    store = BookingStore.from_url(url, SlotPolicy(**policy))
    store.upsert_rule(DOG, "养犬登记证核发", "A区 12-15号窗口", capacity=capacity, weekend=True)
    store.upsert_rule(CARD, "社会保障卡补领", "C区 5号窗口", capacity=capacity)
    return store


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The PostgreSQL half of `db_url` tests needs the real server: mark it like the other integration tests.
    here = Path(__file__).parent
    for item in items:
        callspec = getattr(item, "callspec", None)
        if here in item.path.parents and callspec and callspec.params.get("db_url") == "postgresql":
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def store(sqlite_url: str) -> BookingStore:
    s = make_store(sqlite_url)
    yield s
    s.engine.dispose()


@pytest.fixture
def any_store(db_url: str) -> BookingStore:
    """The same store on SQLite and on the real PostgreSQL."""
    s = make_store(db_url)
    yield s
    s.engine.dispose()
