"""Booking throughput and latency on SQLite and on a temporary real PostgreSQL.

    .venv/bin/python benchmarks/booking_bench.py [--bookings 180] [--threads 8] [--capacity 3]

Each worker thread has its own store (own connections) and books distinct numbers into the slots of one item,
in slot order, so workers keep colliding on the same slot and the retry path is exercised like at opening time.
Prints bookings/s, p50/p95/max latency per booking, and how many attempts found the slot full.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo's tooling (scripts/)

from booking.errors import SlotFull
from booking.slots import SlotPolicy
from booking.store import BookingRequest, BookingStore
from hotline.db import upgrade
from scripts.pgserver import TemporaryPostgres

NOW = datetime(2026, 11, 30, 8, 0)  # Monday before opening: the whole horizon is free


def run(url: str, bookings: int, threads: int, capacity: int) -> dict[str, float]:
    upgrade(url)
    policy = SlotPolicy(max_active=10**6)
    setup = BookingStore.from_url(url, policy)
    setup.upsert_rule("GA-001", "养犬登记证核发", "A区 12号窗口", capacity=capacity)
    slots = [s.start for s in setup.slots("GA-001", NOW)]
    setup.engine.dispose()
    if bookings > len(slots) * capacity:
        raise SystemExit(f"at most {len(slots) * capacity} bookings fit the horizon at capacity {capacity}")
    latencies: list[float] = []
    full = 0
    counter = iter(range(10**9))
    lock = threading.Lock()
    done = [0]

    def worker() -> None:
        nonlocal full
        store = BookingStore.from_url(url, policy)
        slot_index = 0
        while True:
            with lock:
                if done[0] >= bookings:
                    break
                n = next(counter)
            req_slot = slots[slot_index]
            t0 = time.perf_counter()
            try:
                store.book(BookingRequest("GA-001", req_slot, f"1{n:010d}", call_uuid=f"bench-{n}"), NOW)
            except SlotFull:
                with lock:
                    full += 1
                slot_index += 1
                continue
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                done[0] += 1
        store.engine.dispose()

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "bookings": len(latencies), "per_s": len(latencies) / wall, "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000, "max_ms": latencies[-1] * 1000, "full": full,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=180)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--capacity", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.bookings} bookings, {args.threads} threads, capacity {args.capacity} per slot")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.bookings, args.threads, args.capacity)
    with TemporaryPostgres() as pg:
        results["postgresql"] = run(pg.create_database("bench"), args.bookings, args.threads, args.capacity)
    print(f"{'backend':<11} {'bookings':>8} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'full':>6}")
    for name, r in results.items():
        print(f"{name:<11} {r['bookings']:>8} {r['per_s']:>8.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
              f"{r['max_ms']:>8.1f} {r['full']:>6}")


if __name__ == "__main__":
    main()
