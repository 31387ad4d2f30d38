"""`hotline booking ...` end to end through the real CLI entry point and a migrated SQLite file."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from booking.doctor import calendar_check
from booking.slots import local_now
from booking.store import BookingRequest
from cli.main import main
from tests.booking.conftest import DOG, make_store


@pytest.fixture
def cli_env(sqlite_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HOTLINE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    return sqlite_url


def _next_open_slot(url: str) -> datetime:
    store = make_store(url)
    slot = store.slots(DOG, local_now())[0].start
    store.engine.dispose()
    return slot


def test_rule_slots_list_cancel(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["booking", "rule", "GA-009", "--name", "犬只年检", "--window", "A区 9号窗口", "--capacity", "2"]) == 0
    assert "2 per slot" in capsys.readouterr().out
    slot = _next_open_slot(cli_env)
    store = make_store(cli_env)
    booking = store.book(BookingRequest(DOG, slot, "13800000001"), local_now())
    assert main(["booking", "slots", DOG, "--date", slot.date().isoformat()]) == 0
    assert f"{slot:%H:%M}  free 2/3" in capsys.readouterr().out
    assert main(["booking", "list", "--date", slot.date().isoformat()]) == 0
    out = capsys.readouterr().out
    assert booking.code in out and "1 booking(s)" in out
    assert main(["booking", "list", "--date", slot.date().isoformat(), "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("code,date,time")
    assert main(["booking", "cancel", booking.code]) == 0
    assert store.get(booking.code).status == "cancelled"
    assert main(["booking", "cancel", booking.code]) == 1  # not active any more: one line, exit 1
    assert "not active" in capsys.readouterr().err
    store.engine.dispose()


def test_override_and_calendar(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["booking", "override", "2027-02-08", "--holiday", "--note", "春节"]) == 0
    assert main(["booking", "override", "2027-02-20", "--workday", "--note", "调休上班"]) == 0
    capsys.readouterr()
    assert main(["booking", "calendar", "--days", "3"]) == 0
    out = capsys.readouterr().out
    assert "2027-02-08 holiday  春节" in out and "2027-02-20 workday  调休上班" in out and "overrides: 2" in out
    assert main(["booking", "override", "2027-02-08", "--remove"]) == 0
    assert "removed" in capsys.readouterr().out
    assert main(["booking", "override", "2027-02-09"]) == 1


def test_doctor_check_warns_for_uncovered_year() -> None:
    from booking.calendar import Override, WorkCalendar
    from hotline.config import load_settings

    settings = load_settings(env={})
    assert calendar_check(WorkCalendar(), settings, date(2026, 6, 1)).status == "ok"
    check = calendar_check(WorkCalendar(), settings, date(2026, 12, 1))
    assert check.status == "warn" and "2027" in check.detail and "override" in check.fix
    entered = calendar_check(WorkCalendar({date(2027, 1, 1): Override(False, "元旦")}), settings, date(2026, 12, 1))
    assert entered.status == "warn" and "1 条" in entered.detail


def test_doctor_checks_read_overrides_from_the_database(cli_env: str) -> None:
    from booking.doctor import doctor_checks
    from hotline.config import load_settings

    [check] = doctor_checks(load_settings())
    assert check.name == "booking calendar" and check.status in ("ok", "warn")
