"""Working days: the official 2026 calendar with its 调休 days, admin overrides, and the 2027 fallback."""

from __future__ import annotations

from datetime import date

import pytest

from booking.calendar import DaySource, Override, WorkCalendar, official_years

D = date


@pytest.mark.parametrize(("day", "workday"), [
    (D(2026, 1, 4), True),  # Sunday, adjusted working day after 元旦
    (D(2026, 2, 14), True),  # Saturday before 春节
    (D(2026, 2, 28), True),
    (D(2026, 9, 20), True),  # Sunday before 国庆
    (D(2026, 10, 10), True),  # Saturday after 国庆
    (D(2026, 10, 1), False),
    (D(2026, 10, 7), False),
    (D(2026, 2, 17), False),  # 春节
    (D(2026, 12, 5), False),  # plain Saturday
    (D(2026, 11, 30), True),  # plain Monday
])
def test_official_2026(day: date, workday: bool) -> None:
    info = WorkCalendar().info(day)
    assert info.is_workday is workday
    assert info.source is DaySource.OFFICIAL


def test_weekend_service_closed_on_holidays_open_on_plain_weekends() -> None:
    cal = WorkCalendar()
    assert cal.is_service_day(D(2026, 12, 5), weekend_service=True)  # Saturday, "5+2"
    assert not cal.is_service_day(D(2026, 12, 5), weekend_service=False)
    assert not cal.is_service_day(D(2026, 10, 3), weekend_service=True)  # Saturday inside 国庆
    assert cal.is_service_day(D(2026, 10, 10), weekend_service=False)  # adjusted working Saturday


def test_2027_falls_back_without_crashing() -> None:
    cal = WorkCalendar()
    assert not cal.covered(2027)
    assert official_years()[1] == 2026
    monday = cal.info(D(2027, 1, 4))
    assert monday.is_workday and monday.source is DaySource.FALLBACK
    assert not cal.is_workday(D(2027, 1, 9))  # Saturday
    new_year = cal.info(D(2027, 1, 1))  # Friday, fixed-date statutory holiday
    assert not new_year.is_workday and new_year.is_holiday
    assert not cal.is_workday(D(2027, 10, 1)) and not cal.is_workday(D(2027, 5, 1))


def test_horizon_crosses_into_2027() -> None:
    days = WorkCalendar().workdays_from(D(2026, 12, 28), 5)
    assert days == [D(2026, 12, 28), D(2026, 12, 29), D(2026, 12, 30), D(2026, 12, 31), D(2027, 1, 4)]


def test_overrides_win_everywhere() -> None:
    cal = WorkCalendar({
        D(2027, 2, 8): Override(False, "春节"),  # a Monday in a year the package does not know
        D(2027, 2, 20): Override(True, "调休上班"),  # a Saturday
        D(2026, 12, 1): Override(False, "临时闭厅"),  # an official working day
    })
    assert not cal.is_workday(D(2027, 2, 8))
    assert cal.info(D(2027, 2, 8)).source is DaySource.OVERRIDE
    assert cal.is_workday(D(2027, 2, 20))
    assert not cal.is_workday(D(2026, 12, 1))
    assert not cal.is_service_day(D(2027, 2, 8), weekend_service=True)
    assert cal.workdays_from(D(2027, 2, 5), 2) == [D(2027, 2, 5), D(2027, 2, 9)]


def test_warnings_name_the_uncovered_year() -> None:
    assert WorkCalendar().warnings(D(2026, 6, 1)) == []
    warning = WorkCalendar().warnings(D(2026, 12, 1))
    assert len(warning) == 1 and "2027" in warning[0] and "尚未录入" in warning[0]
    entered = WorkCalendar({D(2027, 2, 8): Override(False, "春节")}).warnings(D(2026, 12, 1))
    assert len(entered) == 1 and "1 条" in entered[0]
