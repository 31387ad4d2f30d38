"""Appointments in the panel: a thin layer over booking.store.BookingStore that adds the audit trail."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from admin.services import audit
from admin.services.masking import shown_number
from booking.errors import BookingError
from booking.slots import SlotPolicy
from booking.store import BookingStore, BookingView
from hotline.config import Settings
from hotline.errors import HotlineError

STATUS_LABELS = {"booked": "已预约", "cancelled": "已取消", "attended": "已到场", "no_show": "未到场",
                 "expired": "已过期"}


class BookingAdminError(HotlineError):
    """A booking change the store refused."""


@dataclass(frozen=True)
class BookingRow:
    code: str
    time: str
    item: str
    window: str
    phone: str
    name: str
    status: str
    status_label: str
    source: str


def _row(b: BookingView, full_numbers: bool) -> BookingRow:
    return BookingRow(b.code, b.slot_start.strftime("%H:%M"), f"{b.item_code} {b.item_name}", b.window,
                      shown_number(b.phone, full_numbers), b.name or "", b.status,
                      STATUS_LABELS.get(b.status, b.status), b.source)


def day_view(store: BookingStore, day: date, window: str | None, full_numbers: bool) -> dict[str, list[BookingRow]]:
    """The day's bookings grouped by window, in slot order."""
    out: dict[str, list[BookingRow]] = {}
    for b in store.list_bookings(day, window=window or None):
        out.setdefault(b.window, []).append(_row(b, full_numbers))
    return out


def change(store: BookingStore, session: Session, code: str, action: str, username: str) -> BookingView:
    """cancel / attended / no_show, then one audit row."""
    try:
        before = store.get(code)
        if action == "cancel":
            after = store.cancel(code, by=username)
        elif action in ("attended", "no_show"):
            after = store.mark(code, attended=action == "attended", by=username)
        else:
            raise BookingAdminError(f"未知操作：{action}")
    except BookingError as exc:
        raise BookingAdminError(str(exc)) from None
    audit.record(session, username, f"booking_{action}", f"booking:{code}", {"status": before.status},
                 {"status": after.status})
    return after


def set_capacity(store: BookingStore, session: Session, window: str, capacity: int, username: str) -> None:
    before = {r.item_code: r.capacity for r in store.rules(active_only=False) if r.window == window}
    if not before:
        raise BookingAdminError(f"窗口 {window} 没有可预约事项")
    try:
        store.set_capacity(capacity, window=window, by=username)
    except (BookingError, TypeError) as exc:
        raise BookingAdminError(str(exc)) from None
    audit.record(session, username, "booking_capacity", f"booking_window:{window}", {"capacity": before},
                 {"capacity": capacity})


def set_override(store: BookingStore, session: Session, day: date, is_workday: bool, note: str, username: str) -> None:
    store.set_override(day, is_workday, note, by=username)
    audit.record(session, username, "calendar_override", f"calendar:{day.isoformat()}", None,
                 {"is_workday": is_workday, "note": note})


def remove_override(store: BookingStore, session: Session, day: date, username: str) -> None:
    before = store.overrides().get(day)
    if before is None or not store.remove_override(day):
        raise BookingAdminError(f"{day.isoformat()} 没有节假日设置")
    audit.record(session, username, "calendar_override_remove", f"calendar:{day.isoformat()}",
                 {"is_workday": before.is_workday, "note": before.note}, None)


def calendar_warnings(store: BookingStore, today: date) -> list[str]:
    """Years in the booking horizon that chinesecalendar does not cover (see booking/calendar.py)."""
    return store.calendar().warnings(today)


def export_csv(store: BookingStore, first: date, last: date, full_numbers: bool) -> str:
    buf = io.StringIO()
    rows = store.export_rows(first, last)
    fields = ["code", "date", "time", "item_code", "item_name", "window", "phone", "name", "status", "source",
              "created_at"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        r["phone"] = shown_number(r["phone"], full_numbers)
        writer.writerow(r)
    return "\ufeff" + buf.getvalue()


def store_for(engine: Engine, settings: Settings) -> BookingStore:
    return BookingStore(engine, SlotPolicy.from_settings(settings))
