"""Booking rules and dialog lookups from real KB rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from booking.kbsync import kb_lookups, sync_rules_from_kb
from booking.store import BookingStore
from hotline.models.kb import KBAlias, KBDepartment, KBItem, KBMaterial
from ivr.booking.dialog import BookingDialog


def _kb(url: str) -> BookingStore:
    store = BookingStore.from_url(url)
    with Session(store.engine) as s:
        dept = KBDepartment(code="gaj", name="杭州市某区公安分局", short_name="公安", phone="0571-86909101")
        dog = KBItem(code="GA-001", department=dept, name="养犬登记证核发", target="个人", location="A区 12-15号窗口",
                     weekend=True, bookable=True)
        dog.aliases = [KBAlias(text="狗证", position=0), KBAlias(text="办狗证", position=1)]
        dog.materials = [KBMaterial(name="居民身份证", form="原件", position=0),
                         KBMaterial(name="犬只照片", form="", required=False, position=1),
                         KBMaterial(name="狂犬病免疫证明", form="原件", position=2)]
        other = KBItem(code="GA-002", department=dept, name="犬只年检", target="个人", location="", bookable=False)
        s.add_all([dept, dog, other])
        s.commit()
    return store


def test_sync_creates_updates_and_deactivates(sqlite_url: str) -> None:
    store = _kb(sqlite_url)
    store.upsert_rule("OLD-1", "旧事项", "Z区", 2)
    result = sync_rules_from_kb(store, default_capacity=4)
    assert result.added == ["GA-001"] and result.deactivated == ["OLD-1"] and result.updated == []
    rule = store.rule("GA-001")
    assert (rule.window, rule.capacity, rule.weekend) == ("A区 12-15号窗口", 4, True)
    store.set_capacity(6, item_code="GA-001")
    with Session(store.engine) as s:
        s.get(KBItem, 1).location = "A区 16号窗口"
        s.commit()
    again = sync_rules_from_kb(store)
    assert again.updated == ["GA-001"] and store.rule("GA-001").capacity == 6  # admin capacity kept
    assert store.rule("GA-001").window == "A区 16号窗口" and not store.rule("OLD-1").active
    store.engine.dispose()


def test_dialog_with_kb_lookups_understands_aliases(sqlite_url: str) -> None:
    store = _kb(sqlite_url)
    sync_rules_from_kb(store)
    find_item, materials_for = kb_lookups(store)
    assert find_item("我想约个时间办狗证") == "GA-001" and find_item("犬只年检") is None  # not bookable
    assert materials_for("GA-001") == ["居民身份证原件", "狂犬病免疫证明原件"]
    d = BookingDialog(store, "13912345678", clock=lambda: datetime(2026, 11, 30, 10, 7),
                      find_item=find_item, materials_for=materials_for, call_uuid="c")
    d.start("book", "明天上午办狗证")
    reply = d.handle_text("可以")
    assert "养犬登记证核发" in reply.say and "12月1日周二上午九点" in reply.say
    reply = d.handle_text("对")
    assert reply.booking is not None and "请带好居民身份证原件、狂犬病免疫证明原件" in reply.say
    store.engine.dispose()
