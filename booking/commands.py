"""`hotline booking ...`: slots, day lists, cancellation, and the working-day calendar with its overrides."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date, timedelta

from booking.calendar import official_years
from booking.errors import BookingError
from booking.slots import SlotPolicy, local_now
from booking.store import BookingStore
from hotline.config import Settings


def _store(settings: Settings) -> BookingStore:
    return BookingStore.from_url(settings.effective_database_url, SlotPolicy.from_settings(settings))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r}, expected YYYY-MM-DD") from None


def _cmd_slots(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    slots = store.slots(args.item, local_now(), args.date)
    if not slots:
        print(f"{args.item}: no bookable slots" + (f" on {args.date}" if args.date else ""))
        return 0
    for s in slots:
        print(f"{s.start:%Y-%m-%d %a %H:%M}  free {s.free}/{s.capacity}")
    return 0


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    rows = [b.as_row() for b in store.list_bookings(args.date, window=args.window, item_code=args.item)]
    if args.csv:
        fields = ["code", "date", "time", "item_code", "item_name", "window", "phone", "name", "status", "source",
                  "created_at"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        return 0
    for r in rows:
        print(f"{r['time']}  {r['code']}  {r['status']:<9}  {r['item_code']:<8} {r['window']}  {r['phone']}")
    print(f"{len(rows)} booking(s) on {args.date}")
    return 0


def _cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    b = _store(settings).cancel(args.code, by="cli")
    print(f"cancelled {b.code}: {b.slot_start:%Y-%m-%d %H:%M} {b.item_code} {b.phone}")
    return 0


def _cmd_calendar(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    cal = store.calendar()
    today = local_now().date()
    first, last = official_years()
    print(f"official calendar (chinesecalendar): {first}-{last}; other years: Mon-Fri + fixed holidays + overrides")
    overrides = sorted(cal.overrides.items())
    print(f"overrides: {len(overrides)}")
    for day, o in overrides:
        print(f"  {day} {'workday' if o.is_workday else 'holiday'}  {o.note}")
    print(f"next {args.days} days:")
    for n in range(args.days):
        info = cal.info(today + timedelta(days=n))
        kind = "workday" if info.is_workday else "holiday" if info.is_holiday else "weekend"
        print(f"  {info.day} {info.day:%a} {kind:<8} {info.source.value:<8} {info.note}")
    for warning in cal.warnings(today):
        print(f"WARNING: {warning}")
    return 0


def _cmd_override(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    if args.remove:
        removed = store.remove_override(args.date)
        print(f"override for {args.date} {'removed' if removed else 'did not exist'}")
        return 0
    if args.workday is None:
        raise BookingError("say --workday or --holiday (or --remove)")
    store.set_override(args.date, args.workday, args.note, by="cli")
    print(f"{args.date}: {'workday' if args.workday else 'holiday'} {args.note}".rstrip())
    return 0


def _cmd_rule(args: argparse.Namespace, settings: Settings) -> int:
    rule = _store(settings).upsert_rule(args.item, args.name, args.window, args.capacity, args.weekend,
                                        not args.inactive, by="cli")
    print(f"{rule.item_code} {rule.item_name}: {rule.window}, {rule.capacity} per slot"
          f"{', 5+2' if rule.weekend else ''}{'' if rule.active else ', inactive'}")
    return 0


def _cmd_sync_kb(args: argparse.Namespace, settings: Settings) -> int:
    from booking.kbsync import sync_rules_from_kb

    result = sync_rules_from_kb(_store(settings), args.capacity)
    print(f"booking rules from the KB: {len(result.added)} added, {len(result.updated)} updated, "
          f"{len(result.deactivated)} deactivated")
    for label, codes in (("added", result.added), ("updated", result.updated), ("deactivated", result.deactivated)):
        if codes:
            print(f"  {label}: {' '.join(codes)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    booking = sub.add_parser("booking", help="appointments: slots, bookings, working-day calendar")
    bsub = booking.add_subparsers(dest="booking_command", required=True, metavar="ACTION")

    p = bsub.add_parser("slots", help="free seats per slot of an item")
    p.add_argument("item", help="item code, e.g. GA-001")
    p.add_argument("--date", type=_day, help="only this day (YYYY-MM-DD)")
    p.set_defaults(func=_cmd_slots)

    p = bsub.add_parser("list", help="bookings of one day")
    p.add_argument("--date", type=_day, default=None, help="day (YYYY-MM-DD, default today)")
    p.add_argument("--window")
    p.add_argument("--item")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(func=lambda a, s: _cmd_list(_default_today(a), s))

    p = bsub.add_parser("cancel", help="cancel a booking by its 6-digit code")
    p.add_argument("code")
    p.set_defaults(func=_cmd_cancel)

    p = bsub.add_parser("calendar", help="calendar coverage, overrides and the coming days")
    p.add_argument("--days", type=int, default=14)
    p.set_defaults(func=_cmd_calendar)

    p = bsub.add_parser("override", help="mark a day as working day or holiday (调休 / 节假日)")
    p.add_argument("date", type=_day)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--workday", dest="workday", action="store_true", default=None)
    kind.add_argument("--holiday", dest="workday", action="store_false")
    kind.add_argument("--remove", action="store_true", help="delete the override")
    p.add_argument("--note", default="")
    p.set_defaults(func=_cmd_override)

    p = bsub.add_parser("rule", help="make an item bookable (or update its window and capacity)")
    p.add_argument("item")
    p.add_argument("--name", required=True)
    p.add_argument("--window", required=True)
    p.add_argument("--capacity", type=int, default=3)
    p.add_argument("--weekend", action="store_true", help='also Saturday and Sunday ("5+2")')
    p.add_argument("--inactive", action="store_true")
    p.set_defaults(func=_cmd_rule)

    p = bsub.add_parser("sync-kb", help="booking rules for every bookable KB item (window = location)")
    p.add_argument("--capacity", type=int, default=3, help="seats per slot for new rules")
    p.set_defaults(func=_cmd_sync_kb)


def _default_today(args: argparse.Namespace) -> argparse.Namespace:
    if args.date is None:
        args.date = local_now().date()
    return args
