"""The appointment store: rules, slots, booking in one transaction, cancellation, attendance, overrides.

Overbooking is impossible by construction: every booking also inserts a row into ``booking_seats`` with
UNIQUE(window, slot_start, seat_no) and seat_no in 1..capacity. Two callers racing for the last seat both try to
insert; the database lets one in and the other gets an IntegrityError, re-reads and sees the slot full. The same
holds on SQLite (writers serialise) and PostgreSQL (the unique index blocks the second insert until the first
commits). The read before the insert only picks a likely-free seat; it is never what guarantees correctness.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from booking.calendar import Override, WorkCalendar
from booking.errors import (
    AlreadyBooked,
    BookingError,
    BookingNotFound,
    NotBookable,
    SlotFull,
    TooManyBookings,
)
from booking.slots import SlotPolicy, bookable_slots
from hotline.db import make_engine
from hotline.models.base import utcnow
from hotline.models.bookings import (
    Booking,
    BookingNoShow,
    BookingRule,
    BookingSeat,
    BookingStatus,
    CalendarOverride,
)

MAX_ATTEMPTS = 60  # retries after a lost race (seat or code collision); each round someone wins


@dataclass(frozen=True)
class RuleView:
    item_code: str
    item_name: str
    window: str
    capacity: int
    weekend: bool
    active: bool

    @classmethod
    def of(cls, r: BookingRule) -> RuleView:
        return cls(r.item_code, r.item_name, r.window, r.capacity, r.weekend, r.active)


@dataclass(frozen=True)
class BookingView:
    """A booking detached from its session, safe to hand to the dialog, the CLI and the admin panel."""

    code: str
    item_code: str
    item_name: str
    window: str
    slot_start: datetime
    phone: str
    name: str | None
    status: str
    source: str
    call_uuid: str | None
    created_at: datetime

    @classmethod
    def of(cls, b: Booking) -> BookingView:
        return cls(b.code, b.item_code, b.item_name, b.window, b.slot_start, b.phone, b.name, b.status,
                   b.source, b.call_uuid, b.created_at)

    def as_row(self) -> dict[str, str]:
        return {
            "code": self.code, "date": self.slot_start.strftime("%Y-%m-%d"), "time": self.slot_start.strftime("%H:%M"),
            "item_code": self.item_code, "item_name": self.item_name, "window": self.window, "phone": self.phone,
            "name": self.name or "", "status": self.status, "source": self.source,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class SlotInfo:
    start: datetime
    capacity: int
    taken: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class BookingRequest:
    item_code: str
    slot_start: datetime
    phone: str
    name: str | None = None
    call_uuid: str | None = None  # with it, a retried request returns the same booking
    source: str = "phone"

    @property
    def request_key(self) -> str | None:
        if not self.call_uuid:
            return None
        return f"{self.call_uuid}|{self.item_code}|{self.slot_start:%Y-%m-%dT%H:%M}"


class _Full(Exception):
    """Internal: the slot had no free seat inside the transaction."""


def random_code() -> str:
    """Six digits without a leading zero, so it reads back naturally."""
    return str(100000 + secrets.randbelow(900000))


class BookingStore:
    def __init__(self, engine: Engine, policy: SlotPolicy | None = None,
                 code_generator: Callable[[], str] = random_code) -> None:
        self.engine = engine
        self.policy = policy or SlotPolicy()
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._new_code = code_generator

    @classmethod
    def from_url(cls, url: str, policy: SlotPolicy | None = None, **engine_kwargs) -> BookingStore:
        return cls(make_engine(url, **engine_kwargs), policy)

    # -- calendar ---------------------------------------------------------------------------------------------

    def overrides(self) -> dict[date, Override]:
        with self._session() as s:
            return {o.day: Override(o.is_workday, o.note) for o in s.scalars(select(CalendarOverride))}

    def calendar(self) -> WorkCalendar:
        return WorkCalendar(self.overrides())

    def set_override(self, day: date, is_workday: bool, note: str = "", by: str | None = None) -> None:
        with self._session.begin() as s:
            row = s.get(CalendarOverride, day)
            if row is None:
                s.add(CalendarOverride(day=day, is_workday=is_workday, note=note, updated_by=by))
            else:
                row.is_workday, row.note, row.updated_by = is_workday, note, by

    def remove_override(self, day: date) -> bool:
        with self._session.begin() as s:
            return s.execute(delete(CalendarOverride).where(CalendarOverride.day == day)).rowcount > 0

    # -- rules ------------------------------------------------------------------------------------------------

    def upsert_rule(self, item_code: str, item_name: str, window: str, capacity: int = 3, weekend: bool = False,
                    active: bool = True, by: str | None = None) -> RuleView:
        if capacity < 0:
            raise BookingError(f"capacity must be >= 0, got {capacity}")
        with self._session.begin() as s:
            rule = s.scalar(select(BookingRule).where(BookingRule.item_code == item_code))
            if rule is None:
                rule = BookingRule(item_code=item_code)
                s.add(rule)
            rule.item_name, rule.window, rule.capacity = item_name, window, capacity
            rule.weekend, rule.active, rule.updated_by = weekend, active, by
            s.flush()
            return RuleView.of(rule)

    def rule(self, item_code: str) -> RuleView | None:
        with self._session() as s:
            rule = s.scalar(select(BookingRule).where(BookingRule.item_code == item_code))
            return RuleView.of(rule) if rule else None

    def rules(self, active_only: bool = True) -> list[RuleView]:
        q = select(BookingRule).order_by(BookingRule.item_code)
        if active_only:
            q = q.where(BookingRule.active.is_(True))
        with self._session() as s:
            return [RuleView.of(r) for r in s.scalars(q)]

    def set_capacity(self, capacity: int, *, item_code: str | None = None, window: str | None = None,
                     by: str | None = None) -> int:
        """Seats per slot; a window's capacity is shared by all its items, so a change applies to all of them."""
        if capacity < 0:
            raise BookingError(f"capacity must be >= 0, got {capacity}")
        if window is None:
            rule = self._require_rule(item_code or "")
            window = rule.window
        with self._session.begin() as s:
            result = s.execute(update(BookingRule).where(BookingRule.window == window)
                               .values(capacity=capacity, updated_by=by, updated_at=utcnow()))
            if result.rowcount == 0:
                raise NotBookable(f"no booking rule for window {window!r}")
            return result.rowcount

    def _require_rule(self, item_code: str) -> RuleView:
        rule = self.rule(item_code)
        if rule is None or not rule.active:
            raise NotBookable(f"item {item_code!r} cannot be booked")
        return rule

    # -- slots ------------------------------------------------------------------------------------------------

    def slots(self, item_code: str, now: datetime, day: date | None = None) -> list[SlotInfo]:
        """Bookable slots of an item (one day, or the whole horizon) with their free seats."""
        rule = self._require_rule(item_code)
        starts = bookable_slots(self.calendar(), now, self.policy, rule.weekend)
        if day is not None:
            starts = [t for t in starts if t.date() == day]
        if not starts:
            return []
        with self._session() as s:
            taken = dict(s.execute(
                select(BookingSeat.slot_start, func.count())
                .where(BookingSeat.window == rule.window, BookingSeat.slot_start.between(starts[0], starts[-1]))
                .group_by(BookingSeat.slot_start)
            ).all())
        return [SlotInfo(t, rule.capacity, taken.get(t, 0)) for t in starts]

    def nearest_free(self, item_code: str, around: datetime, now: datetime, limit: int = 2) -> list[datetime]:
        """Free slots closest to the wished time, the same day first."""
        free = [s.start for s in self.slots(item_code, now) if s.free > 0]
        free.sort(key=lambda t: (t.date() != around.date(), abs((t - around).total_seconds()), t))
        return free[:limit]

    # -- booking ----------------------------------------------------------------------------------------------

    def _active_since(self, now: datetime) -> datetime:
        # A booking stays active until its slot is over.
        return now - timedelta(minutes=self.policy.slot_minutes)

    def book(self, req: BookingRequest, now: datetime) -> BookingView:
        """Book one seat in one transaction; raises SlotFull (with alternatives), AlreadyBooked, TooManyBookings,
        NotBookable. Repeating a request with the same call uuid returns the booking made the first time."""
        key = req.request_key
        if key:
            existing = self._by_request_key(key)
            if existing:
                return existing
        rule = self._require_rule(req.item_code)
        if req.slot_start not in set(bookable_slots(self.calendar(), now, self.policy, rule.weekend)):
            raise NotBookable(f"{req.slot_start:%Y-%m-%d %H:%M} is not a bookable slot for {req.item_code}")
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._try_book(req, rule, key, now)
            except IntegrityError:
                continue  # lost a race for a seat or a code, or a duplicate request: look again
            except _Full:
                # Alternatives are looked up after the transaction ended, so the write lock is not held meanwhile.
                alternatives = self.nearest_free(req.item_code, req.slot_start, now)
                raise SlotFull(f"{req.slot_start:%Y-%m-%d %H:%M} is full for {rule.window}", alternatives) from None
        raise BookingError("booking is too busy, try again")

    def _try_book(self, req: BookingRequest, rule: RuleView, key: str | None, now: datetime) -> BookingView:
        with self._session() as s, s.begin():
            if s.get_bind().dialect.name == "postgresql":
                # One number's bookings are counted then added: serialise that per number (SQLite already has
                # one writer at a time: the update below takes its write lock).
                s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:number))"), {"number": f"booking:{req.phone}"})
            if key and (existing := s.scalar(select(Booking).where(Booking.request_key == key))):
                return BookingView.of(existing)
            # Close out this number's past, unmarked booking of the item so the "one active" index admits a new one;
            # as the first write it also takes SQLite's write lock before we read seats.
            s.execute(update(Booking).where(
                Booking.phone == req.phone, Booking.item_code == req.item_code,
                Booking.status == BookingStatus.BOOKED.value, Booking.slot_start < self._active_since(now),
            ).values(status=BookingStatus.EXPIRED.value))
            active = list(s.scalars(select(Booking).where(
                Booking.phone == req.phone, Booking.status == BookingStatus.BOOKED.value,
                Booking.slot_start >= self._active_since(now))))
            same = next((b for b in active if b.item_code == req.item_code), None)
            if same and key and same.request_key == key:  # the same request, committed meanwhile
                return BookingView.of(same)
            if same:
                raise AlreadyBooked(f"{req.phone} already holds booking {same.code} for {req.item_code}", same.code)
            if len(active) >= self.policy.max_active:
                raise TooManyBookings(f"{req.phone} already holds {len(active)} active bookings")
            taken = set(s.scalars(select(BookingSeat.seat_no).where(
                BookingSeat.window == rule.window, BookingSeat.slot_start == req.slot_start)))
            free = [n for n in range(1, rule.capacity + 1) if n not in taken]
            if not free or len(taken) >= rule.capacity:
                raise _Full()
            booking = Booking(
                code=self._new_code(), item_code=rule.item_code, item_name=rule.item_name, window=rule.window,
                slot_start=req.slot_start, phone=req.phone, name=req.name, status=BookingStatus.BOOKED.value,
                request_key=key, call_uuid=req.call_uuid, source=req.source,
            )
            s.add(booking)
            s.flush()
            # A random free seat spreads racing callers over the seats instead of all fighting for seat 1.
            s.add(BookingSeat(window=rule.window, slot_start=req.slot_start, seat_no=random.choice(free),
                              booking_id=booking.id))
            s.flush()
            return BookingView.of(booking)

    def _by_request_key(self, key: str) -> BookingView | None:
        with self._session() as s:
            b = s.scalar(select(Booking).where(Booking.request_key == key))
            return BookingView.of(b) if b else None

    # -- lookups and changes ----------------------------------------------------------------------------------

    def get(self, code: str) -> BookingView:
        with self._session() as s:
            b = s.scalar(select(Booking).where(Booking.code == code))
            if b is None:
                raise BookingNotFound(f"no booking with code {code}")
            return BookingView.of(b)

    def active_for_phone(self, phone: str, now: datetime) -> list[BookingView]:
        with self._session() as s:
            rows = s.scalars(select(Booking).where(
                Booking.phone == phone, Booking.status == BookingStatus.BOOKED.value,
                Booking.slot_start >= self._active_since(now)).order_by(Booking.slot_start))
            return [BookingView.of(b) for b in rows]

    def cancel(self, code: str, phone: str | None = None, by: str | None = None) -> BookingView:
        """Cancel an active booking and free its seat; with ``phone``, only that number's booking."""
        with self._session.begin() as s:
            b = s.scalar(select(Booking).where(Booking.code == code))
            if b is None or (phone is not None and b.phone != phone):
                raise BookingNotFound(f"no booking with code {code}" + (f" for {phone}" if phone else ""))
            if b.status != BookingStatus.BOOKED.value:
                raise BookingError(f"booking {code} is {b.status}, not active")
            b.status, b.cancelled_at, b.marked_by = BookingStatus.CANCELLED.value, utcnow(), by
            s.execute(delete(BookingSeat).where(BookingSeat.booking_id == b.id))
            s.flush()
            return BookingView.of(b)

    def mark(self, code: str, attended: bool, by: str | None = None) -> BookingView:
        """Record attendance; a no-show also counts against the number."""
        status = BookingStatus.ATTENDED if attended else BookingStatus.NO_SHOW
        with self._session.begin() as s:
            b = s.scalar(select(Booking).where(Booking.code == code))
            if b is None:
                raise BookingNotFound(f"no booking with code {code}")
            if b.status not in (BookingStatus.BOOKED, BookingStatus.EXPIRED, BookingStatus.ATTENDED,
                                BookingStatus.NO_SHOW):
                raise BookingError(f"booking {code} is {b.status}")
            if b.status == status.value:
                return BookingView.of(b)
            row = s.get(BookingNoShow, b.phone)
            if status is BookingStatus.NO_SHOW:
                if row is None:
                    row = BookingNoShow(phone=b.phone, count=0)
                    s.add(row)
                row.count, row.last_at = row.count + 1, utcnow()
            elif b.status == BookingStatus.NO_SHOW.value and row is not None and row.count > 0:
                row.count -= 1  # correcting a mistaken no-show
            b.status, b.marked_at, b.marked_by = status.value, utcnow(), by
            s.flush()
            return BookingView.of(b)

    def no_show_count(self, phone: str) -> int:
        with self._session() as s:
            row = s.get(BookingNoShow, phone)
            return row.count if row else 0

    def list_bookings(self, day: date, window: str | None = None, item_code: str | None = None,
                      include_cancelled: bool = True) -> list[BookingView]:
        start = datetime.combine(day, time())
        q = select(Booking).where(Booking.slot_start >= start, Booking.slot_start < start + timedelta(days=1))
        if window:
            q = q.where(Booking.window == window)
        if item_code:
            q = q.where(Booking.item_code == item_code)
        if not include_cancelled:
            q = q.where(Booking.status != BookingStatus.CANCELLED.value)
        with self._session() as s:
            return [BookingView.of(b) for b in s.scalars(q.order_by(Booking.slot_start, Booking.window, Booking.id))]

    def export_rows(self, first: date, last: date) -> list[dict[str, str]]:
        """Bookings with slots from ``first`` to ``last`` inclusive, as flat rows for CSV."""
        q = (select(Booking).where(Booking.slot_start >= datetime.combine(first, time()),
                                   Booking.slot_start < datetime.combine(last + timedelta(days=1), time()))
             .order_by(Booking.slot_start, Booking.id))
        with self._session() as s:
            return [BookingView.of(b).as_row() for b in s.scalars(q)]
