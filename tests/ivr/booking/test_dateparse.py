"""Spoken dates and times, resolved against Monday 2026-11-30 10:00 (and a few other clocks)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from booking.calendar import Override, WorkCalendar
from ivr.booking.dateparse import AFTERNOON, MORNING, When, parse_when, to_int

MON = datetime(2026, 11, 30, 10, 0)  # Monday
THU = datetime(2026, 12, 3, 15, 0)  # Thursday
D = date

CASES = [
    # relative days
    ("明天", MON, D(2026, 12, 1), None, None),
    ("后天", MON, D(2026, 12, 2), None, None),
    ("大后天", MON, D(2026, 12, 3), None, None),
    ("今天", MON, D(2026, 11, 30), None, None),
    ("今天下午", MON, D(2026, 11, 30), AFTERNOON, None),
    ("明天上午", MON, D(2026, 12, 1), MORNING, None),
    ("明儿下午", MON, D(2026, 12, 1), AFTERNOON, None),
    ("后天早上", MON, D(2026, 12, 2), MORNING, None),
    ("三天后", MON, D(2026, 12, 3), None, None),
    ("两天以后", MON, D(2026, 12, 2), None, None),
    ("明天", datetime(2026, 12, 31, 9, 0), D(2027, 1, 1), None, None),
    # weekdays
    ("下周一", MON, D(2026, 12, 7), None, None),
    ("这周五", MON, D(2026, 12, 4), None, None),
    ("本周四", MON, D(2026, 12, 3), None, None),
    ("下下周二", MON, D(2026, 12, 15), None, None),
    ("星期三下午", MON, D(2026, 12, 2), AFTERNOON, None),
    ("周三上午", MON, D(2026, 12, 2), MORNING, None),
    ("礼拜五", MON, D(2026, 12, 4), None, None),
    ("周一", MON, D(2026, 11, 30), None, None),
    ("周三", THU, D(2026, 12, 9), None, None),
    ("下个星期二", MON, D(2026, 12, 8), None, None),
    ("下周三上午", THU, D(2026, 12, 9), MORNING, None),
    ("这周三", THU, D(2026, 12, 2), None, None),
    ("周日", MON, D(2026, 12, 6), None, None),
    ("礼拜天下午", MON, D(2026, 12, 6), AFTERNOON, None),
    ("周6", MON, D(2026, 12, 5), None, None),
    ("下周五下午三点", MON, D(2026, 12, 11), AFTERNOON, time(15, 0)),
    # calendar dates
    ("12月3号", MON, D(2026, 12, 3), None, None),
    ("十二月三日", MON, D(2026, 12, 3), None, None),
    ("12月31日上午", MON, D(2026, 12, 31), MORNING, None),
    ("一月四号", MON, D(2027, 1, 4), None, None),
    ("1月5日下午两点", MON, D(2027, 1, 5), AFTERNOON, time(14, 0)),
    ("11月2号", MON, D(2027, 11, 2), None, None),
    ("5号", MON, D(2026, 12, 5), None, None),
    ("三号上午", MON, D(2026, 12, 3), MORNING, None),
    ("30号", MON, D(2026, 11, 30), None, None),
    ("二十八号", MON, D(2026, 12, 28), None, None),
    ("十二月十号下午", MON, D(2026, 12, 10), AFTERNOON, None),
    # times
    ("下午两点", MON, None, AFTERNOON, time(14, 0)),
    ("十点半", MON, None, MORNING, time(10, 30)),
    ("两点", MON, None, AFTERNOON, time(14, 0)),
    ("上午9点", MON, None, MORNING, time(9, 0)),
    ("9:30", MON, None, MORNING, time(9, 30)),
    ("14:30", MON, None, AFTERNOON, time(14, 30)),
    ("下午3:00", MON, None, AFTERNOON, time(15, 0)),
    ("九点", MON, None, MORNING, time(9, 0)),
    ("十一点", MON, None, MORNING, time(11, 0)),
    ("一点半", MON, None, AFTERNOON, time(13, 30)),
    ("三点一刻", MON, None, AFTERNOON, time(15, 15)),
    ("九点三刻", MON, None, MORNING, time(9, 45)),
    ("十点十五分", MON, None, MORNING, time(10, 15)),
    ("九点零五", MON, None, MORNING, time(9, 5)),
    ("下午四点整", MON, None, AFTERNOON, time(16, 0)),
    ("十二点", MON, None, AFTERNOON, time(12, 0)),
    ("十五点", MON, None, AFTERNOON, time(15, 0)),
    ("上午十点三十分", MON, None, MORNING, time(10, 30)),
    # everything at once
    ("明天上午十点", MON, D(2026, 12, 1), MORNING, time(10, 0)),
    ("我想约后天下午两点半", MON, D(2026, 12, 2), AFTERNOON, time(14, 30)),
    ("周三下午2点半", MON, D(2026, 12, 2), AFTERNOON, time(14, 30)),
    ("就12月3号上午九点吧", MON, D(2026, 12, 3), MORNING, time(9, 0)),
    ("下周二早上9:30", MON, D(2026, 12, 8), MORNING, time(9, 30)),
    ("不对，改成下午", MON, None, AFTERNOON, None),
    ("改到明天", MON, D(2026, 12, 1), None, None),
    # nothing about time
    ("我要办狗证", MON, None, None, None),
    ("对", MON, None, None, None),
]


@pytest.mark.parametrize(("text", "now", "day", "part", "at"), CASES, ids=[c[0] for c in CASES])
def test_parse_when(text: str, now: datetime, day: date | None, part: str | None, at: time | None) -> None:
    got = parse_when(text, now)
    assert (got.date, got.part, got.time) == (day, part, at)


def test_enough_expressions() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("text", ["最早的", "越快越好", "尽快", "最近的时间"])
def test_earliest(text: str) -> None:
    assert parse_when(text, MON).earliest
    assert not parse_when("明天", MON).earliest


@pytest.mark.parametrize(("text", "now", "expected"), [
    ("国庆后第一个工作日", datetime(2026, 9, 15, 9, 0), D(2026, 10, 8)),
    ("春节过后的第一个工作日", datetime(2026, 1, 20, 9, 0), D(2026, 2, 24)),
    ("元旦后第一个工作日", datetime(2026, 12, 20, 9, 0), D(2027, 1, 4)),  # 2027: fixed-date fallback
    ("五一后第一个工作日", datetime(2026, 4, 20, 9, 0), D(2026, 5, 6)),
])
def test_first_workday_after_holiday(text: str, now: datetime, expected: date) -> None:
    assert parse_when(text, now, WorkCalendar()).date == expected


def test_holiday_phrase_follows_overrides() -> None:
    cal = WorkCalendar({D(2027, 1, 4): Override(False, "元旦调休"), D(2027, 1, 2): Override(True, "调休上班")})
    # 1月2日 (Saturday) is an adjusted working day entered by an admin: first working day after 元旦.
    assert parse_when("元旦后第一个工作日", datetime(2026, 12, 20, 9, 0), cal).date == D(2027, 1, 2)


@pytest.mark.parametrize(("token", "value"), [("两", 2), ("十二", 12), ("三十一", 31), ("05", 5), ("零五", 5)])
def test_to_int(token: str, value: int) -> None:
    assert to_int(token) == value


def test_merge_keeps_day_and_replaces_time_of_day() -> None:
    old = When(D(2026, 12, 2), MORNING, time(9, 0))
    new = parse_when("改成下午", MON).merged_over(old)
    assert (new.date, new.part, new.time) == (D(2026, 12, 2), AFTERNOON, None)
    new = parse_when("周四", MON).merged_over(old)
    assert (new.date, new.part, new.time) == (D(2026, 12, 3), MORNING, time(9, 0))
