"""Yes/no, numbers, codes and the spoken forms of times."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from ivr.booking.phrases import code_in, ordinal_in, phone_in, say_day, say_time, spell_digits, yes_no


@pytest.mark.parametrize(("text", "expected"), [
    ("对", True), ("是的", True), ("可以", True), ("好的", True), ("嗯", True), ("确认", True), ("没问题", True),
    ("不对", False), ("不是", False), ("不要", False), ("算了", False), ("不对，改成下午", False),
    ("你好", None), ("啊？", None), ("明天", None),
])
def test_yes_no(text: str, expected: bool | None) -> None:
    assert yes_no(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("我的电话是13912345678", "13912345678"), ("幺三九 一二三四 五六七八", "13912345678"),
    ("139-1234-5678", "13912345678"), ("座机057186909000", "057186909000"), ("八六九零九零零零", "86909000"),
    ("明天上午九点", None), ("12月3号", None),
])
def test_phone_in(text: str, expected: str | None) -> None:
    assert phone_in(text) == expected


def test_codes_ordinals_and_spoken_forms() -> None:
    assert code_in("预约码是 3 8 2 9 1 0") == "382910" and code_in("三八二九一零") == "382910"
    assert code_in("三八二") is None
    assert ordinal_in("第二个") == 2 and ordinal_in("3") == 3 and ordinal_in("周三") is None
    assert spell_digits("382910") == "3 8 2 9 1 0"
    assert say_time(datetime(2026, 12, 1, 14, 30)) == "下午两点半" and say_time(datetime(2026, 12, 1, 9)) == "上午九点"
    today = date(2026, 11, 30)
    assert [say_day(date(2026, 12, d), today) for d in (1, 3, 7)] == ["明天", "周四", "下周一"]
