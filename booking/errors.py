"""Expected booking failures. The dialog turns each into a spoken alternative; the CLI prints one line."""

from __future__ import annotations

from datetime import datetime

from hotline.errors import HotlineError


class BookingError(HotlineError):
    """Base for appointment failures."""


class NotBookable(BookingError):
    """The item has no active booking rule, or the time is not a bookable slot (past, lead time, closed day)."""


class SlotFull(BookingError):
    """Every seat of the slot is taken; ``alternatives`` are the nearest free slots."""

    def __init__(self, message: str, alternatives: list[datetime]) -> None:
        super().__init__(message)
        self.alternatives = alternatives


class AlreadyBooked(BookingError):
    """The number already holds an active booking for this item (``code`` tells which)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class TooManyBookings(BookingError):
    """The number reached the limit of active bookings."""


class BookingNotFound(BookingError):
    """No booking with that code (or for that number)."""
