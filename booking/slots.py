"""Bookable slots as pure functions of the calendar, the policy and the clock (no database here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from booking.calendar import WorkCalendar
from hotline.config import Settings

# Counter hours of the centre: morning and afternoon, lunch break between.
DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 0)))
NOON = time(12, 0)


@dataclass(frozen=True)
class SlotPolicy:
    slot_minutes: int = 30
    lead_minutes: int = 60
    horizon_days: int = 5  # working days, today included
    max_active: int = 3  # active bookings per phone number
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS

    @classmethod
    def from_settings(cls, settings: Settings) -> SlotPolicy:
        return cls(settings.booking_slot_minutes, settings.booking_lead_minutes,
                   settings.booking_horizon_days, settings.booking_max_active)


def day_slots(day: date, policy: SlotPolicy) -> list[datetime]:
    """Slot start times of one open day, e.g. 9:00, 9:30 ... 11:30, 13:30 ... 16:30."""
    step = timedelta(minutes=policy.slot_minutes)
    out = []
    for start, end in policy.periods:
        t, stop = datetime.combine(day, start), datetime.combine(day, end)
        while t + step <= stop:
            out.append(t)
            t += step
    return out


def horizon_days(cal: WorkCalendar, now: datetime, policy: SlotPolicy, weekend_service: bool = False) -> list[date]:
    """Open days from today to the last of the next ``horizon_days`` working days ("5+2" adds weekends)."""
    workdays = cal.workdays_from(now.date(), policy.horizon_days)
    last = workdays[-1]
    days, day = [], now.date()
    while day <= last:
        if cal.is_service_day(day, weekend_service):
            days.append(day)
        day += timedelta(days=1)
    return days


def earliest_start(now: datetime, policy: SlotPolicy) -> datetime:
    return now + timedelta(minutes=policy.lead_minutes)


def bookable_slots(cal: WorkCalendar, now: datetime, policy: SlotPolicy, weekend_service: bool = False) -> list[datetime]:
    """Every slot start inside the horizon and after the lead time."""
    first = earliest_start(now, policy)
    return [s for d in horizon_days(cal, now, policy, weekend_service) for s in day_slots(d, policy) if s >= first]


def is_bookable(slot: datetime, cal: WorkCalendar, now: datetime, policy: SlotPolicy,
                weekend_service: bool = False) -> bool:
    return slot in set(bookable_slots(cal, now, policy, weekend_service))


def part_of_day(slot: datetime) -> str:
    return "上午" if slot.time() < NOON else "下午"


def local_now(tz: str = "Asia/Shanghai") -> datetime:
    """Wall-clock time at the centre as a naive datetime, whatever the server's timezone."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(tz)).replace(tzinfo=None)
