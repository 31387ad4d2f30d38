"""Slot grid, lead time and horizon as pure functions of calendar, policy and clock."""

from __future__ import annotations

from datetime import date, datetime, time

from booking.calendar import Override, WorkCalendar
from booking.slots import SlotPolicy, bookable_slots, day_slots, horizon_days

MON = datetime(2026, 11, 30, 10, 7)


def test_default_grid_is_13_half_hours() -> None:
    slots = day_slots(date(2026, 12, 1), SlotPolicy())
    assert len(slots) == 13
    assert slots[0].time() == time(9, 0) and slots[5].time() == time(11, 30) and slots[6].time() == time(13, 30)
    assert slots[-1].time() == time(16, 30)


def test_slot_length_is_configurable() -> None:
    slots = day_slots(date(2026, 12, 1), SlotPolicy(slot_minutes=60))
    assert [t.time() for t in slots] == [time(9), time(10), time(11), time(13, 30), time(14, 30), time(15, 30)]


def test_lead_time_and_past_excluded() -> None:
    slots = bookable_slots(WorkCalendar(), MON, SlotPolicy())
    assert min(slots) == datetime(2026, 11, 30, 11, 30)  # 10:07 + 60 min -> first start at 11:30
    later = bookable_slots(WorkCalendar(), MON, SlotPolicy(lead_minutes=0))
    assert min(later) == datetime(2026, 11, 30, 10, 30)


def test_horizon_is_five_working_days_weekends_only_for_5_plus_2() -> None:
    friday = datetime(2026, 12, 4, 8, 0)
    plain = horizon_days(WorkCalendar(), friday, SlotPolicy())
    assert plain == [date(2026, 12, d) for d in (4, 7, 8, 9, 10)]
    weekend = horizon_days(WorkCalendar(), friday, SlotPolicy(), weekend_service=True)
    assert weekend == [date(2026, 12, d) for d in (4, 5, 6, 7, 8, 9, 10)]


def test_horizon_into_2027_uses_fallback_and_overrides() -> None:
    now = datetime(2026, 12, 30, 8, 0)
    assert horizon_days(WorkCalendar(), now, SlotPolicy()) == [
        date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 4), date(2027, 1, 5), date(2027, 1, 6)]
    cal = WorkCalendar({date(2027, 1, 4): Override(False, "调休")})
    assert date(2027, 1, 4) not in horizon_days(cal, now, SlotPolicy())


def test_holiday_week_pushes_horizon() -> None:
    days = horizon_days(WorkCalendar(), datetime(2026, 9, 30, 8, 0), SlotPolicy(), weekend_service=True)
    assert days[0] == date(2026, 9, 30)
    assert all(not date(2026, 10, 1) <= d <= date(2026, 10, 7) for d in days)
    assert date(2026, 10, 10) in days  # adjusted working Saturday
