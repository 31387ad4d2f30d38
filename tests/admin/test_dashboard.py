"""Dashboard figures computed in SQL, checked against hand-counted seeded calls on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from admin.services.charts import bar_chart
from admin.services.dashboard import build_dashboard, percentile
from admin.services.localtime import CST
from hotline.db import make_engine, make_sessionmaker
from hotline.models import Call, CallTurn

DAY = datetime(2026, 3, 2, tzinfo=CST).date()


def _seed(s: Session) -> None:
    def call(hour: int, outcome: str, seconds: int, item: str | None, turns: list[dict]) -> None:
        started = datetime(2026, 3, 2, hour, 10, tzinfo=CST)
        c = Call(call_uuid=str(uuid.uuid4()), started_at=started, ended_at=started + timedelta(seconds=seconds),
                 outcome=outcome, item_code=item)
        for i, t in enumerate(turns, 1):
            c.turns.append(CallTurn(seq=i, speaker="caller", at=started + timedelta(seconds=i), **t))
        s.add(c)

    call(0, "answered_by_ivr", 60, "GA-001", [{"aspect": "materials", "asr_confidence": 0.95,
                                               "latency_ms": {"asr": 100, "total": 500}}])
    call(9, "answered_by_ivr", 120, "GA-001", [{"aspect": "fee", "asr_confidence": 0.55,
                                                "latency_ms": {"asr": 300, "total": 900}}])
    call(9, "escalated", 180, "SC-001", [{"text": "我要投诉", "abstained": True, "asr_confidence": 0.31,
                                          "latency_ms": {"asr": 200, "total": 700}}])
    call(23, "abandoned", 0, None, [{"text": "我要投诉", "abstained": True, "asr_confidence": 1.0}])
    # Outside the range: the day before (local) and the day after.
    call(0, "escalated", 60, "XX-001", [])
    s.flush()
    s.execute(Call.__table__.update().where(Call.item_code == "XX-001").values(
        started_at=datetime(2026, 3, 1, 23, 59, tzinfo=CST)))
    s.commit()


@pytest.mark.integration
def test_dashboard_figures_on_both_databases(db_url):
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        _seed(s)
        d = build_dashboard(s, DAY, DAY)
    engine.dispose()
    assert d.total == 4
    assert d.answered_by_ivr == pytest.approx(0.5) and d.escalated == pytest.approx(0.25)
    assert d.abandoned == pytest.approx(0.25)
    assert d.avg_handling_s == pytest.approx((60 + 120 + 180 + 0) / 4)
    hours = dict(d.per_hour)
    assert (hours["00"], hours["09"], hours["23"], hours["12"]) == (1, 2, 1, 0)  # local hours, not UTC
    assert d.per_day == [("03-02", 4)]
    assert d.top_items == [("GA-001", 2), ("SC-001", 1)]
    assert dict(d.top_aspects) == {"materials": 1, "fee": 1}
    assert d.top_unanswered == [("我要投诉", 2)]
    conf = dict(d.confidence)
    assert (conf["0.3"], conf["0.5"], conf["0.9"]) == (1, 1, 2)  # 1.0 goes into the top bucket
    assert d.latency["total"]["p50"] == 700 and d.latency["total"]["p95"] == 900 and d.latency["total"]["n"] == 3


def test_finished_days_are_stored_once_and_today_stays_live(session):
    from admin.services.localtime import today
    from hotline.models.admin import DashboardDay

    _seed(session)
    first = build_dashboard(session, DAY, DAY)
    assert session.get(DashboardDay, DAY) is not None
    # A stored day is not recomputed: a call slipped in afterwards does not show until the day is forgotten.
    session.add(Call(call_uuid=str(uuid.uuid4()), started_at=datetime(2026, 3, 2, 12, 0, tzinfo=CST),
                     outcome="answered_by_ivr"))
    session.commit()
    assert build_dashboard(session, DAY, DAY).total == first.total == 4
    from admin.services.dashboard import forget_days

    forget_days(session, DAY, DAY)
    session.commit()
    assert build_dashboard(session, DAY, DAY).total == 5
    build_dashboard(session, today(), today())
    assert session.get(DashboardDay, today()) is None


def test_dashboard_page_renders_svg_and_rejects_bad_ranges(admin_client, make_call):
    make_call(outcome="escalated", item_code="GA-001")
    html = admin_client.get("/dashboard/").get_data(as_text=True)
    assert "<svg" in html and "来电总数" in html and 'id="kpi-escalated">100.0%' in html
    assert admin_client.get("/dashboard/?date_from=2026-03-05&date_to=2026-03-01").status_code == 400
    assert admin_client.get("/dashboard/?date_from=2020-01-01&date_to=2026-03-01").status_code == 400
    assert admin_client.get("/dashboard/?date_from=x").status_code == 400


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50, 95, 100)
    assert percentile([7], 95) == 7 and percentile([], 50) == 0.0


def test_bar_chart_scales_bars_to_the_tallest():
    chart = bar_chart("t", ["a", "b", "c"], [0, 5, 10], height=128)
    heights = [b.height for b in chart.bars]
    assert heights[0] == 0 and heights[2] == pytest.approx(2 * heights[1]) and heights[2] == 128 - 16 - 28
    assert all(b.y + b.height == pytest.approx(chart.baseline) for b in chart.bars)


def _seed_month(s: Session, days: int = 12) -> list[Call]:
    """Calls on several local days, some near local midnight, with varied turns (deterministic)."""
    import random

    rng = random.Random(3)
    calls = []
    for n in range(days * 6):
        started = datetime(2026, 3, 1, tzinfo=CST) + timedelta(minutes=rng.randrange(days * 24 * 60))
        c = Call(call_uuid=str(uuid.uuid4()), started_at=started, outcome=rng.choice(["answered_by_ivr", "escalated"]),
                 ended_at=started + timedelta(seconds=rng.randrange(10, 300)) if n % 5 else None,
                 item_code=rng.choice(["GA-001", "SC-002", None]))
        for i in range(rng.randrange(0, 3)):
            c.turns.append(CallTurn(seq=i + 1, speaker="caller", at=started + timedelta(seconds=i + 1),
                                    aspect=rng.choice(["fee", "materials", None]), text=rng.choice(["甲", "乙"]),
                                    abstained=rng.random() < 0.4, asr_confidence=rng.choice([None, 0.05, 0.49, 1.0]),
                                    latency_ms={"asr": rng.randrange(0, 999), "total": rng.randrange(0, 3000)}))
        s.add(c)
        calls.append(c)
    s.commit()
    return calls


@pytest.mark.integration
def test_range_pass_equals_direct_count_per_day(db_url):
    """The one-pass range aggregation gives each local day exactly what a direct Python count gives."""
    from collections import Counter

    from admin.services.dashboard import range_stats
    from admin.services.localtime import to_local

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        calls = _seed_month(s)
        first, last = datetime(2026, 3, 1).date(), datetime(2026, 3, 12).date()
        got = range_stats(s, first, last)
        for day, st in got.items():
            mine = [c for c in calls if to_local(c.started_at).date() == day]
            turns = [t for c in calls for t in c.turns if to_local(t.at).date() == day]
            assert st["total"] == len(mine)
            assert st["outcomes"] == dict(Counter(c.outcome for c in mine))
            assert st["items"] == dict(Counter(c.item_code for c in mine if c.item_code))
            assert st["hours"] == dict(Counter(f"{to_local(c.started_at).hour:02d}" for c in mine))
            assert st["dur_n"] == sum(1 for c in mine if c.ended_at)
            assert st["dur_sum"] == pytest.approx(sum((c.ended_at - c.started_at).total_seconds()
                                                      for c in mine if c.ended_at))
            assert st["aspects"] == dict(Counter(t.aspect for t in turns if t.aspect))
            assert st["confidence"] == dict(Counter(str(min(int(t.asr_confidence * 10), 9))
                                                    for t in turns if t.asr_confidence is not None))
            assert st["unanswered"] == dict(Counter(t.text for t in turns if t.abstained))
            for stage in ("asr", "total"):
                assert st["latency"][stage] == dict(Counter(str(t.latency_ms[stage] // 10) for t in turns))
        assert sum(st["total"] for st in got.values()) == len(calls)
    engine.dispose()


def test_rollup_stores_every_finished_day_once_and_dashboard_reads_them(session):
    from admin.services.dashboard import rollup
    from hotline.models.admin import DashboardDay

    _seed_month(session)
    stored = rollup(session)
    assert stored >= 12  # 2026-03-01 up to yesterday, all finished
    assert rollup(session) == 0  # nothing left to do
    first, last = datetime(2026, 3, 1).date(), datetime(2026, 3, 12).date()
    rows = {r.day: r.data for r in session.query(DashboardDay).filter(DashboardDay.day <= last)}
    assert sorted(rows) == [first + timedelta(days=n) for n in range(12)]
    # Stored rows are what the dashboard serves: a call added now is not seen until the days are forgotten.
    d = build_dashboard(session, first, last)
    assert d.total == sum(r["total"] for r in rows.values()) == session.query(Call).count()


def test_dashboard_shows_calendar_warning_with_link_to_editor(admin_client, monkeypatch):
    from datetime import date

    monkeypatch.setattr("admin.views.dashboard.today", lambda: date(2026, 12, 20))  # horizon reaches 2027
    html = admin_client.get("/dashboard/?date_from=2026-12-01&date_to=2026-12-20").get_data(as_text=True)
    assert "2027 年" in html and 'href="/bookings/calendar"' in html
    monkeypatch.setattr("admin.views.dashboard.today", lambda: date(2026, 6, 1))
    assert "calendar-warning" not in admin_client.get("/dashboard/?date_from=2026-05-01&date_to=2026-06-01").get_data(
        as_text=True)
