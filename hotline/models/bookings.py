"""Appointment tables: booking rules per item, bookings, the seats that make overbooking impossible,
admin-entered calendar overrides and no-show counts.

Items are referenced by their KB code string (no foreign key into KB tables, so migrations stay independent).
Slot times are naive local wall-clock times (Asia/Shanghai): a slot is "9:00 on 12月3日" wherever the server runs.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.models.base import Base, utcnow


class BookingStatus(enum.StrEnum):
    BOOKED = "booked"  # active while its slot is ahead
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    EXPIRED = "expired"  # slot passed unmarked; set when the same number books the same item again


class BookingRule(Base):
    """Which item can be booked, at which window, how many callers per slot."""

    __tablename__ = "booking_rules"
    __table_args__ = (CheckConstraint("capacity >= 0", name="capacity_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_code: Mapped[str] = mapped_column(String(32), unique=True)
    item_name: Mapped[str] = mapped_column(String(120))
    # Items served at the same window share its seats: capacity is per window and slot.
    window: Mapped[str] = mapped_column(String(120), index=True)
    capacity: Mapped[int] = mapped_column(default=3)
    weekend: Mapped[bool] = mapped_column(default=False)  # "5+2": also Saturday and Sunday
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # One active booking per number and item, enforced by the database (partial index on both backends).
        Index(
            "uq_bookings_phone_item_active", "phone", "item_code", unique=True,
            sqlite_where=text("status = 'booked'"), postgresql_where=text("status = 'booked'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)  # 6-digit confirmation code, never reused
    item_code: Mapped[str] = mapped_column(String(32), index=True)
    item_name: Mapped[str] = mapped_column(String(120))
    window: Mapped[str] = mapped_column(String(120))
    slot_start: Mapped[datetime] = mapped_column(DateTime(), index=True)  # naive local time
    phone: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=BookingStatus.BOOKED.value, index=True)
    # call uuid + item + slot: a retried request or a hang-up right after confirming keeps one booking.
    request_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    call_uuid: Mapped[str | None] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(8), default="phone")  # phone / admin / cli
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    marked_at: Mapped[datetime | None]  # attended / no-show recorded
    marked_by: Mapped[str | None] = mapped_column(String(64))


class BookingSeat(Base):
    """One row per taken seat; UNIQUE(window, slot_start, seat_no) with seat_no in 1..capacity caps a slot."""

    __tablename__ = "booking_seats"
    __table_args__ = (
        UniqueConstraint("window", "slot_start", "seat_no", name="uq_booking_seats_window_slot_seat"),
        CheckConstraint("seat_no >= 1", name="seat_no_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window: Mapped[str] = mapped_column(String(120))
    slot_start: Mapped[datetime] = mapped_column(DateTime())
    seat_no: Mapped[int]
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), unique=True)


class CalendarOverride(Base):
    """An admin-entered working day or holiday; wins over the chinesecalendar package and the Mon-Fri rule."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool]
    note: Mapped[str] = mapped_column(String(120), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class BookingNoShow(Base):
    """No-shows per phone number, kept even when old bookings are purged."""

    __tablename__ = "booking_no_shows"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime | None]
