"""Fifty callers race for one slot with three seats, each on its own database connection; one number races
for more bookings than it may hold."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from booking.errors import SlotFull, TooManyBookings
from booking.store import BookingRequest, BookingStore
from hotline.models.bookings import Booking, BookingSeat
from tests.booking.conftest import DOG, NOW, make_store

SLOT = datetime(2026, 12, 1, 9, 0)
CALLERS = 50


def _race(url: str, requests: list[BookingRequest]) -> tuple[list, list, list]:
    """Run every request in its own thread with its own engine, released together by a barrier."""
    barrier = threading.Barrier(len(requests))
    booked, full, refused, errors = [], [], [], []
    lock = threading.Lock()

    def caller(req: BookingRequest) -> None:
        store = BookingStore.from_url(url, poolclass=NullPool)  # separate connection per caller
        try:
            barrier.wait()
            result = store.book(req, NOW)
            with lock:
                booked.append(result)
        except SlotFull as exc:
            with lock:
                full.append(exc.alternatives)
        except TooManyBookings:
            with lock:
                refused.append(req.item_code)
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
            with lock:
                errors.append(repr(exc))
        finally:
            store.engine.dispose()

    threads = [threading.Thread(target=caller, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    return booked, full, refused


def _rows(url: str) -> tuple[int, int]:
    store = BookingStore.from_url(url)
    with Session(store.engine) as s:
        counts = s.scalar(select(func.count()).select_from(Booking)), s.scalar(
            select(func.count()).select_from(BookingSeat))
    store.engine.dispose()
    return counts


def _check_capacity_race(url: str) -> None:
    make_store(url, capacity=3).engine.dispose()
    requests = [BookingRequest(DOG, SLOT, f"139{n:08d}", call_uuid=f"call-{n}") for n in range(CALLERS)]
    booked, full, _ = _race(url, requests)
    assert len(booked) == 3
    assert len(full) == CALLERS - 3
    assert all(alts and SLOT not in alts for alts in full)  # everyone else is offered other times
    assert _rows(url) == (3, 3)


def _check_idempotent_race(url: str) -> None:
    make_store(url, capacity=3).engine.dispose()
    same = BookingRequest(DOG, SLOT, "13900000001", call_uuid="one-call")
    booked, full, _ = _race(url, [same] * 12)
    assert len(booked) == 12 and not full
    assert len({b.code for b in booked}) == 1
    assert _rows(url) == (1, 1)


def test_capacity_race_sqlite(sqlite_url: str) -> None:
    _check_capacity_race(sqlite_url)


def test_idempotent_race_sqlite(sqlite_url: str) -> None:
    _check_idempotent_race(sqlite_url)


def _check_active_limit_race(url: str) -> None:
    store = make_store(url, capacity=3)
    items = [f"T-{n:02d}" for n in range(10)]
    for code in items:
        store.upsert_rule(code, f"测试事项{code}", "B区 1号窗口", capacity=3)
    limit = store.policy.max_active
    store.engine.dispose()
    # One number books ten different items at once (e.g. several calls from one switchboard).
    requests = [BookingRequest(code, SLOT, "13900000002", call_uuid=f"call-{code}") for code in items]
    booked, full, refused = _race(url, requests)
    assert len(booked) == limit and len(refused) == len(items) - limit and not full
    assert _rows(url) == (limit, limit)


def test_active_limit_race_sqlite(sqlite_url: str) -> None:
    _check_active_limit_race(sqlite_url)


@pytest.mark.integration
def test_active_limit_race_postgresql(pg_url: str) -> None:
    _check_active_limit_race(pg_url)


@pytest.mark.integration
def test_capacity_race_postgresql(pg_url: str) -> None:
    _check_capacity_race(pg_url)


@pytest.mark.integration
def test_idempotent_race_postgresql(pg_url: str) -> None:
    _check_idempotent_race(pg_url)
