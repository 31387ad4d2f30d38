"""Booking dialogue scenarios, text in and text out, over a real store on SQLite."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking.store import BookingRequest, BookingStore
from hotline.models.bookings import Booking
from ivr.booking.dialog import BookingDialog, Reply
from tests.booking.conftest import CARD, DOG, NOW, make_store

CALLER = "13912345678"
MATERIALS = {DOG: ["居民身份证原件", "犬只狂犬病免疫证明"], CARD: ["居民身份证原件"]}


def dialog(store: BookingStore, caller: str | None = CALLER, **kw) -> BookingDialog:
    kw.setdefault("call_uuid", "call-1")
    return BookingDialog(store, caller, clock=lambda: NOW, materials_for=lambda code: MATERIALS[code], **kw)


def talk(d: BookingDialog, *turns: str) -> Reply:
    """Feed turns: '#', '*' and single digits are keys, '键13912345678#' types a number, anything else is speech."""
    reply = None
    for turn in turns:
        if turn.startswith("键"):
            for key in turn[1:]:
                reply = d.handle_dtmf(key)
        elif len(turn) == 1 and turn in "0123456789#*":
            reply = d.handle_dtmf(turn)
        else:
            reply = d.handle_text(turn)
    return reply


def rows(store: BookingStore) -> int:
    with Session(store.engine) as s:
        return s.scalar(select(func.count()).select_from(Booking).where(Booking.status == "booked"))


def test_everything_at_once(store: BookingStore) -> None:
    d = dialog(store)
    r = d.start("book", "我想预约明天下午两点办理养犬登记证核发，电话13987654321，我叫王小明。")
    assert "12月1日周二下午两点" in r.say and "养犬登记证核发" in r.say and "4 3 2 1" in r.say
    assert "王小明" in r.say and r.booking is None and rows(store) == 0
    r = talk(d, "对")
    assert r.booking is not None and r.booking.slot_start == datetime(2026, 12, 1, 14, 0)
    assert r.booking.phone == "13987654321" and r.booking.name == "王小明"
    assert " ".join(r.booking.code) in r.say and "居民身份证原件、犬只狂犬病免疫证明" in r.say
    assert not r.done and "再听一遍" in r.say
    again = talk(d, "再说一遍")
    assert " ".join(r.booking.code) in again.say
    end = talk(d, "不用了，谢谢")
    assert end.done and end.booking.code == r.booking.code and rows(store) == 1


def test_slots_in_several_turns_with_change_of_mind(store: BookingStore) -> None:
    d = dialog(store, item_code=DOG)  # the caller just asked about dog licences
    r = d.start("book")
    assert "哪一天" in r.say and "按1今天" in r.say
    r = talk(d, "周三")
    assert "上午还是下午" in r.say
    r = talk(d, "下午")
    assert "尾号是5 6 7 8的号码可以吗" in r.say
    r = talk(d, "可以")
    assert "12月2日周三下午一点半" in r.say
    r = talk(d, "不对，改成上午十点")
    assert "12月2日周三上午十点" in r.say and "下午" not in r.say.split("办理")[0]
    r = talk(d, "还是改到周四吧")
    assert "12月3日周四上午十点" in r.say
    r = talk(d, "#")
    assert r.booking.slot_start == datetime(2026, 12, 3, 10, 0) and r.booking.phone == CALLER


def test_full_half_day_offers_nearest_free_slots(sqlite_url: str) -> None:
    store = make_store(sqlite_url, capacity=1)
    for n, hour in enumerate(["9:00", "9:30", "10:00", "10:30", "11:00", "11:30"]):
        h, m = map(int, hour.split(":"))
        store.book(BookingRequest(DOG, datetime(2026, 12, 2, h, m), f"1380000000{n}"), NOW)
    d = dialog(store)
    r = d.start("book", "养犬登记证核发周三上午")
    assert r.say.startswith("后天上午已满，后天下午一点半和后天下午两点还有空，您选哪个？")
    r = talk(d, "第二个")
    assert "尾号" in r.say
    r = talk(d, "可以", "对")
    assert r.booking.slot_start == datetime(2026, 12, 2, 14, 0)
    store.engine.dispose()


def test_keypad_only(store: BookingStore) -> None:
    d = dialog(store)
    r = d.start("book")
    assert "按1养犬登记证核发" in r.say and "按2社会保障卡补领" in r.say
    r = talk(d, "2")
    assert r.options[:2] == ("今天", "明天")
    r = talk(d, "2", "1")  # tomorrow, morning
    assert "尾号" in r.say
    r = talk(d, "#")
    assert "12月1日周二上午九点" in r.say and "社会保障卡补领" in r.say
    r = talk(d, "#")
    assert r.booking.item_code == CARD and r.booking.slot_start == datetime(2026, 12, 1, 9, 0)


def test_number_keyed_when_no_caller_id_and_back_key(store: BookingStore) -> None:
    d = dialog(store, caller=None)
    r = d.start("book", "养犬登记证核发，后天上午")
    assert r.expect == "digits" and "以井号键结束" in r.say
    r = talk(d, "键139#")
    assert "位数不对" in r.say
    r = talk(d, "键13911112222#")
    assert "2 2 2 2" in r.say and "12月2日周三上午九点" in r.say
    r = talk(d, "*")
    assert "要改哪里" in r.say
    r = talk(d, "3")
    assert r.expect == "digits"
    r = talk(d, "键13933334444#")
    assert "4 4 4 4" in r.say
    r = talk(d, "是的")
    assert r.booking.phone == "13933334444"


def test_caller_declines_caller_id(store: BookingStore) -> None:
    d = dialog(store)
    d.start("book", "养犬登记证核发，明天上午")
    r = talk(d, "不是这个号")
    assert r.expect == "digits"
    r = talk(d, "键13900001111#")
    assert "1 1 1 1" in r.say


def test_slot_taken_while_confirming(sqlite_url: str) -> None:
    store = make_store(sqlite_url, capacity=1)
    d = dialog(store)
    r = d.start("book", "养犬登记证核发明天上午九点，用这个号码")
    r = talk(d, "可以")
    assert "上午九点" in r.say
    store.book(BookingRequest(DOG, datetime(2026, 12, 1, 9, 0), "13800000000"), NOW)  # someone else was faster
    r = talk(d, "对")
    assert r.booking is None and "刚刚明天上午九点已被约满" in r.say and "上午九点半" in r.say
    r = talk(d, "1")
    assert "上午九点半" in r.say  # confirmation again, not a silent booking
    r = talk(d, "对")
    assert r.booking.slot_start == datetime(2026, 12, 1, 9, 30)
    store.engine.dispose()


def test_hang_up_after_confirming_then_retry_keeps_one_booking(store: BookingStore) -> None:
    first = dialog(store, call_uuid="call-42")
    first.start("book", "养犬登记证核发明天上午十点")
    code = talk(first, "可以", "对").booking.code  # caller hangs up here; the flow retries the turn
    retry = dialog(store, call_uuid="call-42")
    retry.start("book", "养犬登记证核发明天上午十点")
    assert talk(retry, "可以", "对").booking.code == code
    assert rows(store) == 1


def test_already_booked_and_limit(store: BookingStore) -> None:
    store.book(BookingRequest(DOG, datetime(2026, 12, 1, 9, 0), CALLER), NOW)
    d = dialog(store)
    d.start("book", "养犬登记证核发后天上午")
    r = talk(d, "可以", "对")
    assert r.done and "已经预约过" in r.say and r.booking is None


def test_query_reads_all_bookings(store: BookingStore) -> None:
    a = store.book(BookingRequest(DOG, datetime(2026, 12, 1, 9, 0), CALLER), NOW)
    b = store.book(BookingRequest(CARD, datetime(2026, 12, 2, 14, 0), CALLER), NOW)
    r = dialog(store).start("query")
    assert r.done and "查到2个预约" in r.say
    assert " ".join(a.code) in r.say and " ".join(b.code) in r.say and "12月2日周三下午两点" in r.say


def test_query_other_number_when_caller_has_none(store: BookingStore) -> None:
    store.book(BookingRequest(DOG, datetime(2026, 12, 1, 9, 0), "13700001234"), NOW)
    d = dialog(store)
    r = d.start("query")
    assert "没有查到" in r.say and r.expect == "digits"
    r = talk(d, "键13700001234#")
    assert r.done and "养犬登记证核发" in r.say and "上午九点" in r.say


def test_cancel_one_with_confirmation(store: BookingStore) -> None:
    store.book(BookingRequest(DOG, datetime(2026, 12, 1, 9, 0), CALLER), NOW)
    d = dialog(store)
    r = d.start("cancel")
    assert "确定吗" in r.say and rows(store) == 1
    r = talk(d, "确定")
    assert r.done and "已为您取消" in r.say and rows(store) == 0


def test_cancel_picks_by_code_among_several_and_no_keeps_it(store: BookingStore) -> None:
    store.book(BookingRequest(DOG, datetime(2026, 12, 1, 9, 0), CALLER), NOW)
    b = store.book(BookingRequest(CARD, datetime(2026, 12, 2, 14, 0), CALLER), NOW)
    d = dialog(store)
    r = d.start("cancel")
    assert "要取消哪一个" in r.say
    r = talk(d, "预约码是" + " ".join(b.code))
    assert "社会保障卡补领" in r.say and "确定吗" in r.say
    r = talk(d, "算了不取消了")
    assert r.done and rows(store) == 2
    d = dialog(store)
    d.start("cancel")
    r = talk(d, "2", "#")
    assert r.done and store.get(b.code).status == "cancelled"


@pytest.mark.parametrize("text", ["啊？", "你好"])
def test_unclear_answer_repeats_the_question(store: BookingStore, text: str) -> None:
    d = dialog(store)
    question = d.start("book", "养犬登记证核发明天上午")
    r = talk(d, text)
    assert r.say == "抱歉没听清。" + question.say
    r = talk(d, text)
    assert r.say == "抱歉没听清。" + question.say  # not "抱歉没听清。抱歉没听清。"


def test_plain_no_opens_the_change_menu_and_star_after_booking_ends(store: BookingStore) -> None:
    d = dialog(store)
    d.start("book", "养犬登记证核发明天上午")
    r = talk(d, "可以", "不对")
    assert "要改哪里" in r.say and r.options == ("日期", "时间", "电话", "事项")
    r = talk(d, "1")
    assert "哪一天" in r.say
    r = talk(d, "周四下午三点")
    assert "12月3日周四下午三点" in r.say and "养犬登记证核发" in r.say
    r = talk(d, "#")
    assert r.booking.slot_start == datetime(2026, 12, 3, 15, 0)
    r = talk(d, "*")
    assert r.done and "感谢" in r.say and r.booking is not None


def test_day_outside_horizon_offers_open_days(store: BookingStore) -> None:
    d = dialog(store)
    r = d.start("book", "社会保障卡补领，下下周二")
    assert "不在可预约的日期内" in r.say and r.options
    r = talk(d, "1")
    assert "尾号" in r.say


def test_confirming_with_the_same_details_books(store: BookingStore) -> None:
    d = dialog(store)
    d.start("book", "养犬登记证核发明天上午")
    r = talk(d, "可以")
    assert "12月1日周二上午九点" in r.say
    r = talk(d, "对，就明天上午")
    assert r.booking is not None and r.booking.slot_start == datetime(2026, 12, 1, 9, 0)


def test_every_step_has_a_declared_handler_for_the_callers_words() -> None:
    from ivr.booking.dialog import STEPS, Step

    assert set(STEPS) == set(Step)
    assert all(callable(getattr(BookingDialog, spec.on_text, None)) for spec in STEPS.values())


def test_each_reply_carries_the_vocabulary_of_the_step_it_asks_for(store: BookingStore) -> None:
    from speech.vocab import DATE, YES_NO

    d = dialog(store)
    r = d.start("book", "我想预约办理养犬登记证核发")
    assert r.hints == DATE.phrases  # "哪天？"
    r = talk(d, "明天下午两点")
    assert d.step.value in ("phone_ok", "confirm") and r.hints == YES_NO.phrases
    assert talk(d, "").hints == r.hints  # the re-prompt keeps them
    for _ in range(3):  # the caller's number, then the whole booking: yes, yes
        if d.booking is None:
            assert talk(d, "对").hints == YES_NO.phrases  # …and "再听一遍吗？" after booking
    end = talk(d, "不用了，谢谢")
    assert d.booking is not None and end.done and end.hints == ()
