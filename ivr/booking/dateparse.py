"""Spoken Chinese dates and times ("下周三下午两点", "12月3号", "十点半") to a typed `When`, relative to `now`.

Pure: text and a clock in, a value out. Chinese numerals go through cn2an. Times follow office hours: a bare
"两点" is 14:00 because the centre is closed at 2 a.m.; 1-6 o'clock without 上午 means the afternoon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import cn2an

from booking.calendar import HOLIDAY_NAMES, WorkCalendar

MORNING, AFTERNOON = "上午", "下午"
_NUM = r"[零〇一二两三四五六七八九十\d]{1,4}"
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}


@dataclass(frozen=True)
class When:
    """What the caller said about the time; any part may be missing."""

    date: date | None = None
    part: str | None = None  # 上午 / 下午
    time: time | None = None
    earliest: bool = False  # "最早" / "越快越好"

    @property
    def empty(self) -> bool:
        return self.date is None and self.part is None and self.time is None and not self.earliest

    def merged_over(self, old: When) -> When:
        """Newer words win; a new day keeps the old time of day unless a new one was said."""
        return When(self.date or old.date, self.part or (None if self.time else old.part),
                    self.time or (None if self.part else old.time), self.earliest or old.earliest)


def to_int(token: str) -> int:
    """'十二' -> 12, '两' -> 2, '05' -> 5."""
    token = token.replace("〇", "零")
    if token.isdigit():
        return int(token)
    try:
        return int(cn2an.cn2an(token, "smart"))
    except ValueError:
        # "零五" and similar digit-by-digit readings
        digits = "".join(str(int(cn2an.cn2an(ch, "smart"))) for ch in token)
        return int(digits)


def _normalise(text: str) -> str:
    text = text.replace("：", ":").replace("礼拜", "周").replace("星期", "周").replace(" ", "")
    return text.replace("周日", "周天").replace("下个周", "下周").replace("这个周", "这周").replace("下下个周", "下下周")


def _cut(text: str, m: re.Match) -> str:
    # Blank out a matched span so "12月3号" is not read again as "3号".
    return text[: m.start()] + "　" * (m.end() - m.start()) + text[m.end():]


def _future_month_day(now: date, month: int, day: int) -> date | None:
    for year in (now.year, now.year + 1):
        try:
            d = date(year, month, day)
        except ValueError:
            return None
        if d >= now:
            return d
    return None


def _parse_date(text: str, today: date, cal: WorkCalendar | None) -> tuple[date | None, str]:
    names = "|".join(sorted(HOLIDAY_NAMES, key=len, reverse=True))
    m = re.search(rf"({names})节?(假期|长假)?(过后|以后|之后|后|结束后)的?(第一个工作日|第一天上班|上班第一天|头一天)", text)
    if m and cal is not None:
        return cal.first_workday_after_holiday(m.group(1), today), _cut(text, m)
    m = re.search(rf"({_NUM})月({_NUM})(号|日)?", text)
    if m:
        return _future_month_day(today, to_int(m.group(1)), to_int(m.group(2))), _cut(text, m)
    m = re.search(rf"(?<![\d月])({_NUM})(号|日)(?!窗)", text)
    if m:
        n = to_int(m.group(1))
        if 1 <= n <= 31:
            for k in range(3):  # this month, or the next month that has that day
                y, mo = divmod(today.month - 1 + k, 12)
                try:
                    d = date(today.year + y, mo + 1, n)
                except ValueError:
                    continue
                if d >= today:
                    return d, _cut(text, m)
    m = re.search(r"(下下|下|这|本)?周([一二三四五六天末1-7])", text)
    if m:
        target = _WEEKDAYS[m.group(2)]
        monday = today - timedelta(days=today.weekday())
        weeks = {"下下": 2, "下": 1, "这": 0, "本": 0}.get(m.group(1) or "")
        if weeks is None:  # bare "周三": the next one, today included
            return today + timedelta(days=(target - today.weekday()) % 7), _cut(text, m)
        return monday + timedelta(weeks=weeks, days=target), _cut(text, m)
    m = re.search(rf"({_NUM})天(以后|之后|后)", text)
    if m:
        return today + timedelta(days=to_int(m.group(1))), _cut(text, m)
    for word, days in (("大后天", 3), ("后天", 2), ("明天", 1), ("明儿", 1), ("明日", 1),
                       ("今天", 0), ("今儿", 0), ("今日", 0), ("当天", 0)):
        i = text.find(word)
        if i >= 0:
            return today + timedelta(days=days), text[:i] + "　" * len(word) + text[i + len(word):]
    return None, text


def _parse_part(text: str) -> str | None:
    if re.search(r"下午|午后|傍晚", text):
        return AFTERNOON
    if re.search(r"上午|早上|早晨|一早|清早|上班的时候", text):
        return MORNING
    return None


def _parse_time(text: str) -> time | None:
    m = re.search(r"(?<!\d)(\d{1,2}):(\d{2})", text)
    if m:
        h, minute = int(m.group(1)), int(m.group(2))
    else:
        m = re.search(rf"({_NUM})点(半|一刻|三刻|整|钟|({_NUM})分?)?", text)
        if not m:
            return None
        h = to_int(m.group(1))
        tail = m.group(2) or ""
        minute = {"半": 30, "一刻": 15, "三刻": 45}.get(tail, to_int(m.group(3)) if m.group(3) else 0)
    if not (0 <= h <= 23 and 0 <= minute <= 59):
        return None
    return time(h, minute)


def _office_hours(t: time, part: str | None) -> time:
    """'两点' is 14:00; '下午3点' 15:00; '上午9点' 9:00; '12点' noon."""
    h = t.hour
    if part == AFTERNOON and h < 12 or part is None and 1 <= h <= 6:
        h += 12
    return time(h, t.minute)


def parse_when(text: str, now: datetime, calendar: WorkCalendar | None = None) -> When:
    """Date, part of day and time mentioned in ``text``, resolved against ``now`` (local time)."""
    norm = _normalise(text)
    day, rest = _parse_date(norm, now.date(), calendar)
    part = _parse_part(rest)
    t = _parse_time(rest)
    if t is not None:
        t = _office_hours(t, part)
        part = part or (MORNING if t < time(12) else AFTERNOON)
    earliest = bool(re.search(r"最早|最近|尽快|越快越好|越早越好|马上|最快", norm))
    return When(day, part, t, earliest)
