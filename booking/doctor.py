"""`hotline doctor` checks for appointments: working-day calendar coverage of the booking horizon."""

from __future__ import annotations

from datetime import date

from booking.calendar import WorkCalendar
from booking.slots import local_now
from hotline.checks import Check
from hotline.config import Settings


def calendar_check(calendar: WorkCalendar, settings: Settings, today: date | None = None) -> Check:
    """Warn (never fail) when the coming weeks reach a year without official holiday data."""
    warnings = calendar.warnings(today or local_now().date())
    if warnings:
        return Check("booking calendar", "warn", "；".join(warnings),
                     "hotline booking override DATE --holiday/--workday, or upgrade chinesecalendar")
    return Check("booking calendar", "ok", f"working days known for the next {settings.booking_horizon_days}+ days")


def doctor_checks(settings: Settings) -> list[Check]:
    from sqlalchemy.exc import SQLAlchemyError

    from booking.store import BookingStore

    try:
        calendar = BookingStore.from_url(settings.effective_database_url).calendar()
    except SQLAlchemyError:
        calendar = WorkCalendar()  # database problems are reported by the core check; still warn on coverage
    return [calendar_check(calendar, settings)]
