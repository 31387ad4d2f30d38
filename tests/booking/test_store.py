"""The booking store on SQLite and the real PostgreSQL: rules, seats, limits, idempotency, attendance."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking.errors import AlreadyBooked, BookingNotFound, NotBookable, SlotFull, TooManyBookings
from booking.store import BookingRequest, BookingStore
from hotline.models.bookings import Booking, BookingSeat
from tests.booking.conftest import CARD, DOG, NOW

TUE9 = datetime(2026, 12, 1, 9, 0)


def _count(store: BookingStore, model) -> int:
    with Session(store.engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_book_fills_seats_then_offers_alternatives(any_store: BookingStore) -> None:
    codes = {any_store.book(BookingRequest(DOG, TUE9, f"1380000000{n}"), NOW).code for n in range(3)}
    assert len(codes) == 3 and all(len(c) == 6 and c.isdigit() for c in codes)
    with pytest.raises(SlotFull) as exc:
        any_store.book(BookingRequest(DOG, TUE9, "13800000009"), NOW)
    assert exc.value.alternatives == [datetime(2026, 12, 1, 9, 30), datetime(2026, 12, 1, 10, 0)]
    assert [s.free for s in any_store.slots(DOG, NOW, date(2026, 12, 1))][:2] == [0, 3]


def test_items_at_one_window_share_its_seats(any_store: BookingStore) -> None:
    any_store.upsert_rule("GA-002", "犬只年检", "A区 12-15号窗口", capacity=3)
    for n in range(2):
        any_store.book(BookingRequest(DOG, TUE9, f"1390000000{n}"), NOW)
    any_store.book(BookingRequest("GA-002", TUE9, "13900000005"), NOW)
    with pytest.raises(SlotFull):
        any_store.book(BookingRequest("GA-002", TUE9, "13900000006"), NOW)
    any_store.book(BookingRequest(CARD, TUE9, "13900000006"), NOW)  # another window


def test_cancel_frees_the_seat(any_store: BookingStore) -> None:
    made = [any_store.book(BookingRequest(DOG, TUE9, f"1380000000{n}"), NOW) for n in range(3)]
    cancelled = any_store.cancel(made[1].code, phone=made[1].phone)
    assert cancelled.status == "cancelled"
    assert _count(any_store, BookingSeat) == 2
    again = any_store.book(BookingRequest(DOG, TUE9, "13800000008"), NOW)
    assert again.code not in {b.code for b in made}
    with pytest.raises(BookingNotFound):
        any_store.cancel(made[0].code, phone="13000000000")  # someone else's number


def test_one_active_booking_per_number_and_item(any_store: BookingStore) -> None:
    first = any_store.book(BookingRequest(DOG, TUE9, "13800000001"), NOW)
    with pytest.raises(AlreadyBooked) as exc:
        any_store.book(BookingRequest(DOG, TUE9 + timedelta(hours=1), "13800000001"), NOW)
    assert exc.value.code == first.code
    any_store.book(BookingRequest(CARD, TUE9, "13800000001"), NOW)  # another item is fine


def test_database_itself_refuses_a_second_active_booking(any_store: BookingStore) -> None:
    any_store.book(BookingRequest(DOG, TUE9, "13800000001"), NOW)
    with Session(any_store.engine) as s, pytest.raises(IntegrityError):  # bypassing the store's checks
        s.add(Booking(code="999999", item_code=DOG, item_name="x", window="y", slot_start=TUE9,
                      phone="13800000001", status="booked", source="cli"))
        s.commit()


def test_limit_of_active_bookings_per_number(db_url: str) -> None:
    from tests.booking.conftest import make_store

    store = make_store(db_url, max_active=2)
    store.upsert_rule("GA-003", "犬只注销", "A区 16号窗口")
    store.book(BookingRequest(DOG, TUE9, "13800000001"), NOW)
    store.book(BookingRequest(CARD, TUE9, "13800000001"), NOW)
    with pytest.raises(TooManyBookings):
        store.book(BookingRequest("GA-003", TUE9, "13800000001"), NOW)
    store.engine.dispose()


def test_past_lead_time_closed_days_and_unknown_items_are_refused(any_store: BookingStore) -> None:
    for slot in (datetime(2026, 11, 30, 9, 0), datetime(2026, 11, 30, 11, 0), datetime(2026, 12, 1, 12, 0),
                 datetime(2026, 12, 1, 9, 10), datetime(2026, 12, 12, 9, 0)):
        with pytest.raises(NotBookable):
            any_store.book(BookingRequest(CARD, slot, "13800000001"), NOW)
    wednesday = datetime(2026, 12, 2, 10, 7)  # horizon Wed-Tue spans a weekend
    with pytest.raises(NotBookable):  # Saturday: only "5+2" items
        any_store.book(BookingRequest(CARD, datetime(2026, 12, 5, 9, 0), "13800000001"), wednesday)
    any_store.book(BookingRequest(DOG, datetime(2026, 12, 5, 9, 0), "13800000001"), wednesday)
    with pytest.raises(NotBookable):
        any_store.book(BookingRequest("XX-999", TUE9, "13800000001"), NOW)


def test_retried_request_keeps_exactly_one_booking(any_store: BookingStore) -> None:
    request = BookingRequest(DOG, TUE9, "13800000001", call_uuid="5f0c-call")
    first = any_store.book(request, NOW)
    again = any_store.book(request, NOW + timedelta(seconds=3))
    assert again.code == first.code
    assert _count(any_store, Booking) == 1 and _count(any_store, BookingSeat) == 1


def test_expired_booking_does_not_block_a_new_one(any_store: BookingStore) -> None:
    old = any_store.book(BookingRequest(DOG, TUE9, "13800000001"), NOW)
    next_week = datetime(2026, 12, 7, 8, 0)
    new = any_store.book(BookingRequest(DOG, datetime(2026, 12, 8, 9, 0), "13800000001"), next_week)
    assert any_store.get(old.code).status == "expired" and new.status == "booked"
    assert [b.code for b in any_store.active_for_phone("13800000001", next_week)] == [new.code]


def test_attendance_and_no_show_counts(any_store: BookingStore) -> None:
    a = any_store.book(BookingRequest(DOG, TUE9, "13800000001"), NOW)
    b = any_store.book(BookingRequest(CARD, TUE9, "13800000001"), NOW)
    assert any_store.mark(a.code, attended=False, by="admin").status == "no_show"
    any_store.mark(a.code, attended=False)  # idempotent
    any_store.mark(b.code, attended=False)
    assert any_store.no_show_count("13800000001") == 2
    assert any_store.mark(b.code, attended=True).status == "attended"  # correction
    assert any_store.no_show_count("13800000001") == 1


def test_lists_export_and_capacity(any_store: BookingStore) -> None:
    any_store.book(BookingRequest(DOG, TUE9, "13800000001", name="王先生"), NOW)
    any_store.book(BookingRequest(CARD, TUE9 + timedelta(hours=1), "13800000002"), NOW)
    any_store.book(BookingRequest(CARD, datetime(2026, 12, 2, 9, 0), "13800000003"), NOW)
    day = any_store.list_bookings(date(2026, 12, 1))
    assert [b.item_code for b in day] == [DOG, CARD]
    assert [b.phone for b in any_store.list_bookings(date(2026, 12, 1), window="C区 5号窗口")] == ["13800000002"]
    rows = any_store.export_rows(date(2026, 12, 1), date(2026, 12, 2))
    assert [r["phone"] for r in rows] == ["13800000001", "13800000002", "13800000003"]
    assert rows[0]["name"] == "王先生" and rows[0]["time"] == "09:00"
    assert any_store.set_capacity(1, item_code=DOG) == 1
    with pytest.raises(SlotFull):
        any_store.book(BookingRequest(DOG, TUE9, "13800000004"), NOW)


def test_capacity_lowered_below_taken_seats_still_caps(any_store: BookingStore) -> None:
    for n in range(3):
        any_store.book(BookingRequest(DOG, TUE9, f"1380000000{n}"), NOW)
    any_store.cancel(any_store.list_bookings(date(2026, 12, 1))[0].code)
    any_store.set_capacity(2, window="A区 12-15号窗口")
    with pytest.raises(SlotFull):
        any_store.book(BookingRequest(DOG, TUE9, "13800000007"), NOW)


def test_overrides_round_trip_and_shape_slots(any_store: BookingStore) -> None:
    any_store.set_override(date(2026, 12, 1), False, "临时闭厅", by="admin")
    assert not any_store.calendar().is_workday(date(2026, 12, 1))
    assert any_store.slots(CARD, NOW, date(2026, 12, 1)) == []
    with pytest.raises(NotBookable):
        any_store.book(BookingRequest(CARD, TUE9, "13800000001"), NOW)
    any_store.set_override(date(2026, 12, 1), True)
    assert any_store.slots(CARD, NOW, date(2026, 12, 1))
    assert any_store.remove_override(date(2026, 12, 1)) and not any_store.remove_override(date(2026, 12, 1))


def test_code_collisions_are_retried(sqlite_url: str) -> None:
    codes = iter(["111111", "111111", "111111", "222222"])
    store = BookingStore.from_url(sqlite_url)
    store._new_code = lambda: next(codes)
    store.upsert_rule(DOG, "养犬登记证核发", "A区", capacity=3)
    assert store.book(BookingRequest(DOG, TUE9, "13800000001"), NOW).code == "111111"
    assert store.book(BookingRequest(DOG, TUE9, "13800000002"), NOW).code == "222222"
    store.engine.dispose()
