"""Dashboard rollup: the `hotline dashboard-rollup` command and the background thread `hotline serve` starts."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

from admin.services.localtime import CST
from cli.main import main
from hotline.models import Call
from hotline.models.admin import DashboardDay


def _calls(session, days: int) -> None:
    for n in range(days):
        started = datetime(2026, 5, 1, 12, tzinfo=CST) + timedelta(days=n)
        session.add(Call(call_uuid=str(uuid.uuid4()), started_at=started, outcome="answered_by_ivr"))
    session.commit()


def test_cli_rollup_stores_finished_days(settings, session, monkeypatch, capsys):
    _calls(session, 3)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("HOTLINE_VAR_DIR", str(settings.var_dir))
    assert main(["dashboard-rollup"]) == 0
    out = capsys.readouterr().out
    stored = session.query(DashboardDay).count()
    assert stored >= 3 and f"stored {stored} finished day" in out
    assert main(["dashboard-rollup"]) == 0 and "stored 0 finished day" in capsys.readouterr().out


def test_background_rollup_runs_at_start_and_stops(settings, session):
    from admin.rollup import start_background_rollup

    _calls(session, 2)
    stop = threading.Event()
    thread = start_background_rollup(settings, every_s=0.05, stop=stop)
    for _ in range(200):
        if session.query(DashboardDay).filter(DashboardDay.day == datetime(2026, 5, 2).date()).count():
            break
        stop.wait(0.05)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    rows = {r.day: r.data for r in session.query(DashboardDay)}
    assert rows[datetime(2026, 5, 1).date()]["total"] == 1 and rows[datetime(2026, 5, 2).date()]["total"] == 1
