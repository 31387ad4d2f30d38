"""Glue to the knowledge base: booking rules from bookable KB items, and the dialog's item and materials lookups.

Reads the KB tables through the shared models only (bookings never hold a foreign key into them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from booking.store import BookingStore
from hotline.models.kb import KBItem


@dataclass(frozen=True)
class SyncResult:
    added: list[str]
    updated: list[str]
    deactivated: list[str]


def sync_rules_from_kb(store: BookingStore, default_capacity: int = 3, by: str = "kb-sync") -> SyncResult:
    """One rule per bookable KB item (window = its location, "5+2" = its weekend flag); capacities set by an
    admin are kept; rules whose item is gone or no longer bookable are deactivated, never deleted."""
    with Session(store.engine) as s:
        items = list(s.scalars(select(KBItem).where(KBItem.bookable.is_(True)).order_by(KBItem.code)))
        wanted = {i.code: (i.name, i.location or i.name, i.weekend) for i in items}
    existing = {r.item_code: r for r in store.rules(active_only=False)}
    added, updated, deactivated = [], [], []
    for code, (name, window, weekend) in wanted.items():
        rule = existing.get(code)
        if rule is None:
            store.upsert_rule(code, name, window, default_capacity, weekend, by=by)
            added.append(code)
        elif (rule.item_name, rule.window, rule.weekend, rule.active) != (name, window, weekend, True):
            store.upsert_rule(code, name, window, rule.capacity, weekend, by=by)
            updated.append(code)
    for code, rule in existing.items():
        if code not in wanted and rule.active:
            store.upsert_rule(code, rule.item_name, rule.window, rule.capacity, rule.weekend, active=False, by=by)
            deactivated.append(code)
    return SyncResult(added, updated, deactivated)


def _material_phrase(name: str, form: str) -> str:
    return name if form in ("", "电子证照") or name.endswith(form) else f"{name}{form}"


def kb_lookups(store: BookingStore) -> tuple[Callable[[str], str | None], Callable[[str], list[str]]]:
    """``(find_item, materials_for)`` for `BookingDialog`, from KB names, aliases and required materials.

    Loaded once per call (a few dozen bookable items), so the dialog does not query the KB on every turn.
    """
    active = {r.item_code for r in store.rules()}
    with Session(store.engine) as s:
        items = list(s.scalars(select(KBItem).where(KBItem.code.in_(active))
                               .options(selectinload(KBItem.aliases), selectinload(KBItem.materials))))
        names = sorted(((n, i.code) for i in items for n in [i.name, *(a.text for a in i.aliases)]),
                       key=lambda pair: -len(pair[0]))  # longest name first: "犬只年检" before "犬"
        materials = {i.code: [_material_phrase(m.name, m.form) for m in i.materials if m.required] for i in items}

    def find_item(text: str) -> str | None:
        return next((code for name, code in names if name and name in text), None)

    def materials_for(code: str) -> list[str]:
        return materials.get(code, [])

    return find_item, materials_for
