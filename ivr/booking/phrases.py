"""Small parsers and renderers for what callers say and hear in the booking dialog (pure functions)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

WEEKDAY_NAMES = "一二三四五六日"
_HOURS = ["零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"]
_DIGITS = str.maketrans("零〇幺一二两三四五六七八九", "0011223456789")
_NO = re.compile(r"不对|不是|不行|不要|不用|不可以|不好|错了|算了|没有|别|换一个|否|改")
_YES = re.compile(r"^(嗯|好|行|要)|对|是|好的|好啊|好吧|可以|确认|没问题|需要|要的|OK|ok|确定|没错")
_ORDINAL = re.compile(r"第([一二三四五12345])(个|项|种)?|^([一二三四五12345])(号|个)?$")


def yes_no(text: str) -> bool | None:
    """True for yes, False for no (checked first: "不对" contains "对"), None when neither."""
    if _NO.search(text):
        return False
    if _YES.search(text):
        return True
    return None


def digits_in(text: str) -> str:
    """Spoken or written digits, '幺三八' -> '138'; other characters dropped."""
    return re.sub(r"\D", "", text.translate(_DIGITS))


def phone_in(text: str) -> str | None:
    """A mobile (11 digits from 1) or landline (7-12 digits) number said in a sentence."""
    run = re.sub(r"[\s\-—,，]", "", text).translate(_DIGITS)
    for m in re.finditer(r"\d{7,12}", run):
        number = m.group(0)
        if len(number) == 11 and number.startswith("1") or len(number) in (7, 8) or number.startswith("0"):
            return number
    return None


def code_in(text: str) -> str | None:
    """A six-digit confirmation code, spoken digit by digit or typed."""
    m = re.search(r"\d{6}", re.sub(r"[\s,，]", "", text).translate(_DIGITS))
    return m.group(0) if m else None


def ordinal_in(text: str) -> int | None:
    """'第二个' / '2' / '二' -> 2 (1-based)."""
    m = _ORDINAL.search(text.strip())
    if not m:
        return None
    token = m.group(1) or m.group(3)
    return "一二三四五".index(token) + 1 if token in "一二三四五" else int(token)


def name_in(text: str) -> str | None:
    m = re.search(r"(?:我叫|名字(?:是|叫)|姓名(?:是)?)([\u4e00-\u9fa5]{2,4}?)(?:[，,。.！!]|$)", text)
    return m.group(1) if m else None


def say_time(t: datetime) -> str:
    """'上午九点', '下午两点半'."""
    part = "上午" if t.hour < 12 else "下午"
    h = t.hour if t.hour <= 12 else t.hour - 12
    minutes = "" if t.minute == 0 else "半" if t.minute == 30 else f"{t.minute}分"
    return f"{part}{_HOURS[h]}点{minutes}"


def say_day(d: date, today: date) -> str:
    """'今天', '明天', '周三', '下周一' — short, for offers."""
    delta = (d - today).days
    if delta in (0, 1, 2):
        return ("今天", "明天", "后天")[delta]
    week_gap = (d - timedelta(days=d.weekday()) - (today - timedelta(days=today.weekday()))).days // 7
    prefix = "" if week_gap == 0 else "下" if week_gap == 1 else f"{d.month}月{d.day}日"
    return f"{prefix}周{WEEKDAY_NAMES[d.weekday()]}"


def say_date(d: date) -> str:
    """'12月2日周三' — full, for confirmations."""
    return f"{d.month}月{d.day}日周{WEEKDAY_NAMES[d.weekday()]}"


def say_slot(t: datetime, today: date) -> str:
    return say_day(t.date(), today) + say_time(t)


def spell_digits(code: str) -> str:
    """'382910' -> '3 8 2 9 1 0' so the speech normaliser reads each digit."""
    return " ".join(code)


def tail(phone: str) -> str:
    return spell_digits(phone[-4:])


def join_or(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "和" + items[-1]
