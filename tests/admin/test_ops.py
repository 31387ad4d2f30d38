"""/healthz checks the database for real; /metrics serves the IVR's Prometheus metrics."""

from __future__ import annotations

from admin import create_app
from hotline.config import load_settings


def test_healthz_ok_with_a_reachable_database(app):
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_503_when_the_database_is_unreachable(tmp_path):
    settings = load_settings(env={}, var_dir=str(tmp_path / "var"),
                             database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    resp = create_app(settings).test_client().get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["status"] == "error"


def test_metrics_exposes_hotline_metrics(app):
    resp = app.test_client().get("/metrics")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert "hotline_active_calls" in body and "hotline_processing_seconds_bucket" in body
