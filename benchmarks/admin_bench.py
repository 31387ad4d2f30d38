"""Admin panel page times at 100,000 calls, on SQLite and on a temporary real PostgreSQL.

Seeds 100,000 calls (two caller turns each, spread over 60 days), then requests each page through the real app
(Flask test client, logged in as an admin) and prints p50/p95 in milliseconds. Target: p95 <= 200 ms.

    .venv/bin/python benchmarks/admin_bench.py [--calls 100000] [--runs 30] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo's tooling (scripts/)

from sqlalchemy import delete, insert, select

from admin import create_app
from hotline.config import load_settings
from hotline.db import make_engine, make_sessionmaker, upgrade
from hotline.models import Call, CallTurn, User, utcnow
from hotline.models.admin import DashboardDay

OUTCOMES = ["answered_by_ivr"] * 6 + ["escalated"] * 2 + ["abandoned", "callback_requested", "booked"]
ASPECTS = ["materials", "location", "hours", "fee", "process", "general"]
QUESTIONS = ["狗证要带什么材料", "社保卡丢了怎么补办", "公积金怎么提取", "营业执照在哪里办", "结婚登记要预约吗",
             "出生证明怎么开", "我要投诉", "居住证多久能拿到"]
TARGET_MS = 200.0


def seed(url: str, n_calls: int, chunk: int = 5000) -> None:
    rng = random.Random(7)
    engine = make_engine(url)
    now = utcnow()
    items = [f"{p}-{i:03d}" for p in ("GA", "SC", "RS", "GJJ", "MZ") for i in range(1, 11)]
    with engine.begin() as conn:
        user = User(username="bench", role="admin")
        user.set_password("bench-password")
        conn.execute(insert(User.__table__), [{"username": "bench", "role": "admin", "password_hash": user.password_hash,
                                              "active": True, "created_at": now}])
    # Oldest first, as the IVR writes them: rows of one day sit together on disk, like in production.
    starts = sorted(now - timedelta(seconds=rng.randrange(60 * 86400)) for _ in range(n_calls))
    next_id = 1
    for start in range(0, n_calls, chunk):
        calls, turns = [], []
        for started in starts[start:start + chunk]:
            outcome = rng.choice(OUTCOMES)
            item = rng.choice(items) if outcome != "abandoned" else None
            conf = round(rng.uniform(0.2, 1.0), 3)
            calls.append({
                "id": next_id, "call_uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "caller_number": f"13{rng.randrange(10**9):09d}", "started_at": started,
                "ended_at": started + timedelta(seconds=rng.randrange(20, 400)), "outcome": outcome,
                "first_question": rng.choice(QUESTIONS), "item_code": item,
                "department": item.split("-")[0].lower() if item else None, "min_confidence": conf, "turn_count": 2,
            })
            for seq in (1, 2):
                abstained = outcome == "escalated" and seq == 1
                turns.append({
                    "call_id": next_id, "seq": seq, "at": started + timedelta(seconds=5 * seq), "speaker": "caller",
                    "kind": "speech", "text": rng.choice(QUESTIONS), "asr_confidence": conf, "item_code": item,
                    "aspect": rng.choice(ASPECTS), "qa_confidence": None if abstained else rng.uniform(0.3, 1.0),
                    "abstained": abstained, "answer_text": "示例答案", "latency_ms": {
                        "asr": rng.randrange(300, 1200), "qa": rng.randrange(5, 40),
                        "tts_first_frame": rng.randrange(100, 300), "total": rng.randrange(500, 1800)},
                })
            next_id += 1
        with engine.begin() as conn:
            conn.execute(insert(Call.__table__), calls)
            conn.execute(insert(CallTurn.__table__), turns)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('calls', 'id'), (SELECT max(id) FROM calls))")
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def measure(url: str, var_dir: Path, runs: int) -> dict[str, tuple[float, float, float]]:
    settings = load_settings(env={}, var_dir=str(var_dir), database_url=url)
    app = create_app(settings)
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    assert client.post("/login", data={"username": "bench", "password": "bench-password",
                                       "csrf_token": token}).status_code == 302
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Call.id).order_by(Call.id).limit(1000)))
        deep = conn.execute(select(Call.started_at, Call.id).order_by(Call.started_at.desc(), Call.id.desc())
                            .offset(50_000).limit(1)).one()
    engine.dispose()
    from admin.services.calls import encode_cursor

    pages = {
        "call list, unfiltered": ["/calls/"],
        "call list, page 1,000 (keyset)": [f"/calls/?after={encode_cursor(deep.started_at, deep.id)}"],
        "call list, escalated": ["/calls/?escalated=y"],
        "call list, item + 7 days": ["/calls/?item=GA-003&date_from={d7}&date_to={d0}"],
        "call list, low confidence": ["/calls/?low_confidence=y"],
        "call list, caller number": ["/calls/?number=13000000000"],
        "call detail": [f"/calls/{i}" for i in ids],
        "dashboard, 7 days, cold": ["/dashboard/"],
        "dashboard, 30 days, cold": ["/dashboard/?date_from={d30}&date_to={d0}"],
        "dashboard, 30 days, yesterday cold": ["/dashboard/?date_from={d30}&date_to={d0}"],
        "dashboard, 7 days, warm": ["/dashboard/"],
        "dashboard, 30 days, warm": ["/dashboard/?date_from={d30}&date_to={d0}"],
        "agent queue JSON": ["/agent/queue.json"],
        "quality queue": ["/quality/"],
    }
    from admin.services.localtime import today

    t = today()
    fmt = {"d0": t.isoformat(), "d7": (t - timedelta(days=6)).isoformat(), "d30": (t - timedelta(days=29)).isoformat()}
    results = {}
    for name, urls in pages.items():
        times, first = [], 0.0
        for i in range(runs + 2):
            path = urls[i % len(urls)].format(**fmt)
            if name.endswith(", cold"):
                forget_stored_days(url)  # every run starts with no stored days (as right after a seed or import)
            elif name.endswith("yesterday cold"):
                forget_stored_days(url, t - timedelta(days=1))  # the state between hourly rollups: one day missing
            t0 = time.perf_counter()
            resp = client.get(path)
            elapsed = (time.perf_counter() - t0) * 1000
            if resp.status_code != 200:
                raise SystemExit(f"{path}: HTTP {resp.status_code}")
            if i == 0:
                first = elapsed
            if i >= 2:  # the first two warm caches and the template loader
                times.append(elapsed)
        times.sort()
        results[name] = (statistics.median(times), times[max(0, int(len(times) * 0.95 + 0.5) - 1)], first)
    return results


def forget_stored_days(url: str, day: date | None = None) -> None:
    from admin.services import dashboard

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(DashboardDay).where(DashboardDay.day == day) if day else delete(DashboardDay))
    engine.dispose()
    dashboard._live.clear()


def time_rollup(url: str) -> tuple[int, float]:
    """Seconds `hotline admin rollup` needs to store every finished day from scratch."""
    from admin.services.dashboard import rollup

    forget_stored_days(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    with make_sessionmaker(engine)() as s:
        days = rollup(s)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return days, elapsed


def report(backend: str, results: dict[str, tuple[float, float, float]]) -> bool:
    ok = True
    print(f"\n{backend}: p50 / p95 ms (target p95 <= {TARGET_MS:.0f}); first view. Dashboard 'cold': no stored days "
          "before each request (all computed from calls); 'warm': finished days read from dashboard_days")
    for name, (p50, p95, first) in results.items():
        flag = "ok" if p95 <= TARGET_MS else "SLOW"
        ok &= p95 <= TARGET_MS
        print(f"  {name:34s} {p50:7.1f} {p95:7.1f}  {flag:4s}  first {first:7.1f}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="admin-bench-") as tmp:
        root = Path(tmp)
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{root / 'bench.db'}"
            upgrade(url)
            t0 = time.perf_counter()
            seed(url, args.calls)
            print(f"sqlite: seeded {args.calls} calls in {time.perf_counter() - t0:.1f} s")
            ok &= report("SQLite", measure(url, root / "var-sqlite", args.runs))
            print("  rollup of all finished days: {} days in {:.2f} s".format(*time_rollup(url)))
        if args.only in (None, "postgresql"):
            from scripts.pgserver import TemporaryPostgres

            with TemporaryPostgres() as pg:
                url = pg.create_database("bench")
                upgrade(url)
                t0 = time.perf_counter()
                seed(url, args.calls)
                print(f"postgresql: seeded {args.calls} calls in {time.perf_counter() - t0:.1f} s")
                ok &= report("PostgreSQL", measure(url, root / "var-pg", args.runs))
                print("  rollup of all finished days: {} days in {:.2f} s".format(*time_rollup(url)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
