"""Which days the centre works: admin overrides, then the official calendar, then a plain Monday-Friday rule.

`chinesecalendar` only knows the years it shipped with (2004-2026 in 1.11.0) and raises NotImplementedError
beyond; the horizon crosses into a new year every December, so an uncovered year falls back to Mon-Fri plus
whatever holidays and adjusted working days (调休) an admin entered, and `warnings()` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import cache

import chinese_calendar

# Official names as chinesecalendar spells them, keyed by what callers say.
HOLIDAY_NAMES = {
    "元旦": "New Year's Day", "春节": "Spring Festival", "过年": "Spring Festival", "清明": "Tomb-sweeping Day",
    "五一": "Labour Day", "劳动节": "Labour Day", "端午": "Dragon Boat Festival", "中秋": "Mid-autumn Festival",
    "国庆": "National Day", "十一": "National Day",
}


# Statutory holidays on fixed solar dates (国务院《全国年节及纪念日放假办法》, 2025 revision): safe to assume for a
# year the package does not cover yet. Lunar holidays and 调休 must be entered as overrides.
FIXED_HOLIDAYS = {(1, 1): "New Year's Day", (5, 1): "Labour Day", (5, 2): "Labour Day",
                  (10, 1): "National Day", (10, 2): "National Day", (10, 3): "National Day"}


class DaySource(StrEnum):
    OVERRIDE = "override"
    OFFICIAL = "official"
    FALLBACK = "fallback"  # year not covered: Mon-Fri minus fixed-date holidays


@dataclass(frozen=True)
class Override:
    is_workday: bool
    note: str = ""


@dataclass(frozen=True)
class DayInfo:
    day: date
    is_workday: bool
    is_holiday: bool  # a named holiday or an admin-entered closing (closed even for "5+2" items)
    source: DaySource
    note: str = ""


@cache
def official_years() -> tuple[int, int]:
    """First and last year the installed chinesecalendar covers."""
    years = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays})
    return years[0], years[-1]


@dataclass(frozen=True)
class WorkCalendar:
    overrides: Mapping[date, Override] = field(default_factory=dict)

    def covered(self, year: int) -> bool:
        first, last = official_years()
        return first <= year <= last

    def info(self, day: date) -> DayInfo:
        if day in self.overrides:
            o = self.overrides[day]
            return DayInfo(day, o.is_workday, not o.is_workday, DaySource.OVERRIDE, o.note)
        if self.covered(day.year):
            holiday, name = chinese_calendar.get_holiday_detail(day)
            # A weekend day is a "holiday" to the package; only a named one closes "5+2" windows.
            return DayInfo(day, not holiday, holiday and name is not None, DaySource.OFFICIAL, name or "")
        fixed = FIXED_HOLIDAYS.get((day.month, day.day))
        if fixed:
            return DayInfo(day, False, True, DaySource.FALLBACK, fixed)
        return DayInfo(day, day.weekday() < 5, False, DaySource.FALLBACK)

    def is_workday(self, day: date) -> bool:
        return self.info(day).is_workday

    def is_service_day(self, day: date, weekend_service: bool = False) -> bool:
        """Open for an item: working days, plus non-holiday weekends for "5+2" items."""
        info = self.info(day)
        return info.is_workday or (weekend_service and day.weekday() >= 5 and not info.is_holiday)

    def workdays_from(self, start: date, count: int) -> list[date]:
        """The first ``count`` working days on or after ``start``."""
        out: list[date] = []
        day = start
        while len(out) < count:
            if self.is_workday(day):
                out.append(day)
            day += timedelta(days=1)
        return out

    def first_workday_after_holiday(self, holiday: str, today: date) -> date | None:
        """'国庆后第一个工作日': the first working day after the next (or current) run of that holiday."""
        official = HOLIDAY_NAMES.get(holiday, holiday)
        day, seen = today, False
        for _ in range(400):
            info = self.info(day)
            is_it = info.is_holiday and info.note == official
            if is_it:
                seen = True
            elif seen and info.is_workday:
                return day
            day += timedelta(days=1)
        return None

    def warnings(self, today: date, lookahead_days: int = 45) -> list[str]:
        """Human-readable warnings for `hotline doctor` and the admin panel; empty when all is covered."""
        out = []
        years = sorted({(today + timedelta(days=n)).year for n in range(lookahead_days + 1)})
        for year in years:
            if self.covered(year):
                continue
            entered = sum(1 for d in self.overrides if d.year == year)
            if entered:
                out.append(f"{year} 年不在 chinesecalendar 覆盖范围内，使用已录入的 {entered} 条节假日/调休设置，"
                           "其余日期按周一至周五上班处理")
            else:
                out.append(f"{year} 年的法定节假日和调休尚未录入（chinesecalendar 只覆盖到 {official_years()[1]} 年），"
                           "预约暂按周一至周五（除元旦、五一、国庆固定假日）处理：请在管理后台录入或升级 chinesecalendar")
        return out
