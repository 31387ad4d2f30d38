"""Appointments page: a day per window, cancel / attended / no-show, capacity, calendar override, CSV."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from booking.store import BookingRequest, BookingStore
from hotline.db import make_engine
from hotline.models import AuditLog
from tests.admin.conftest import csrf_token

NOW = datetime(2026, 3, 2, 8, 0)  # a Monday, before opening (naive local time, as the store uses)


@pytest.fixture
def store(settings):
    engine = make_engine(settings.effective_database_url)
    s = BookingStore(engine)
    s.upsert_rule("GA-001", "养犬登记证核发", "A区 12号窗口", capacity=2)
    s.upsert_rule("GA-002", "犬只年检", "A区 12号窗口", capacity=2)
    yield s
    engine.dispose()


def _book(store, phone: str, item: str = "GA-001", hour: int = 10):
    return store.book(BookingRequest(item, datetime(2026, 3, 2, hour, 0), phone, name="张三"), NOW)


def test_day_view_groups_by_window_and_masks_for_agents(admin_client, agent_client, store):
    _book(store, "13812345678")
    _book(store, "13900001111", "GA-002", 14)
    html = admin_client.get("/bookings/?day=2026-03-02").get_data(as_text=True)
    assert "A区 12号窗口" in html and "10:00" in html and "14:00" in html and "13812345678" in html
    assert "每时段 2 个名额" in html
    agent_html = agent_client.get("/bookings/?day=2026-03-02").get_data(as_text=True)
    assert "138****5678" in agent_html and "13812345678" not in agent_html
    assert "到场</button>" not in agent_html
    assert "当天没有预约" in admin_client.get("/bookings/?day=2026-03-03").get_data(as_text=True)
    assert admin_client.get("/bookings/?day=not-a-date").status_code == 400


@pytest.mark.parametrize(("action", "status"), [("cancel", "cancelled"), ("attended", "attended"), ("no_show", "no_show")])
def test_admin_changes_booking_status_with_audit(admin_client, store, session, action, status):
    booking = _book(store, "13812345678")
    token = csrf_token(admin_client, "/bookings/")
    assert admin_client.post(f"/bookings/{booking.code}/{action}", data={"csrf_token": token}).status_code == 302
    assert store.get(booking.code).status == status
    log = session.query(AuditLog).filter_by(target=f"booking:{booking.code}").one()
    assert log.before == {"status": "booked"} and log.after == {"status": status}


def test_agents_cannot_change_bookings(agent_client, store):
    booking = _book(store, "13812345678")
    token = csrf_token(agent_client, "/bookings/")
    assert agent_client.post(f"/bookings/{booking.code}/cancel", data={"csrf_token": token}).status_code == 403
    assert store.get(booking.code).status == "booked"


def test_capacity_change_applies_to_the_window(admin_client, store, session):
    token = csrf_token(admin_client, "/bookings/")
    resp = admin_client.post("/bookings/capacity", data={"csrf_token": token, "window": "A区 12号窗口", "capacity": "5"})
    assert resp.status_code == 302
    assert {r.capacity for r in store.rules()} == {5}
    assert admin_client.post("/bookings/capacity", data={"csrf_token": token, "window": "A区 12号窗口",
                                                         "capacity": "-1"}).status_code == 400
    assert session.query(AuditLog).filter_by(action="booking_capacity").count() == 1


def test_calendar_override_is_stored(admin_client, store):
    token = csrf_token(admin_client, "/bookings/")
    resp = admin_client.post("/bookings/calendar", data={"csrf_token": token, "day": "2027-01-01", "is_workday": "0",
                                                         "note": "元旦"})
    assert resp.status_code == 302
    assert date(2027, 1, 1) in store.overrides()


def test_csv_export_masks_for_agents(admin_client, agent_client, store):
    _book(store, "13812345678")
    full = admin_client.get("/bookings/export.csv?from=2026-03-01&to=2026-03-05").get_data(as_text=True)
    masked = agent_client.get("/bookings/export.csv?from=2026-03-01&to=2026-03-05").get_data(as_text=True)
    assert "13812345678" in full and "138****5678" in masked and "13812345678" not in masked
    assert admin_client.get("/bookings/export.csv?from=2026-03-05&to=2026-03-01").status_code == 400


def test_calendar_editor_lists_adds_and_removes_with_audit(admin_client, agent_client, store, session):
    assert agent_client.get("/bookings/calendar").status_code == 403
    token = csrf_token(admin_client, "/bookings/calendar")
    assert admin_client.post("/bookings/calendar", data={"csrf_token": token, "day": "2027-02-06", "is_workday": "1",
                                                         "note": "<i>春节调休</i>"}).status_code == 302
    html = admin_client.get("/bookings/calendar").get_data(as_text=True)
    assert "2027-02-06" in html and "&lt;i&gt;春节调休&lt;/i&gt;" in html and "<i>春节调休" not in html
    assert admin_client.post("/bookings/calendar/2027-02-06/remove").status_code == 400  # no CSRF token
    assert date(2027, 2, 6) in store.overrides()
    assert admin_client.post("/bookings/calendar/2027-02-06/remove", data={"csrf_token": token}).status_code == 302
    assert date(2027, 2, 6) not in store.overrides()
    agent_token = csrf_token(agent_client, "/bookings/")
    assert agent_client.post("/bookings/calendar/2027-02-06/remove",
                             data={"csrf_token": agent_token}).status_code == 403
    actions = [a.action for a in session.query(AuditLog).order_by(AuditLog.id) if a.action.startswith("calendar")]
    assert actions == ["calendar_override", "calendar_override_remove"]


def test_bookings_page_warns_when_horizon_leaves_chinesecalendar(admin_client, agent_client, store, monkeypatch):
    monkeypatch.setattr("admin.views.bookings.today", lambda: date(2026, 12, 20))
    html = admin_client.get("/bookings/").get_data(as_text=True)
    assert "calendar-warning" in html and "2027 年" in html and 'href="/bookings/calendar"' in html
    agent_html = agent_client.get("/bookings/").get_data(as_text=True)
    assert "2027 年" in agent_html and 'href="/bookings/calendar"' not in agent_html  # agents cannot edit
    monkeypatch.setattr("admin.views.bookings.today", lambda: date(2026, 6, 1))
    assert "calendar-warning" not in admin_client.get("/bookings/").get_data(as_text=True)
