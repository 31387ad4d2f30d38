"""Soak: a steady 10 simultaneous callers through the real Asterisk sandbox into a real `hotline serve` for N minutes.
Needs root (the chroot), sipp and sox; loopback only. From the repo root:

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--lines 10] [--window 5]

Each line is a sipp caller in a loop: wait for the greeting, ask one of four questions (our TTS, RTP), listen to
part of the answer, hang up, call again. Printed: the IVR process's resident memory at start, every window and at
the end; per window the calls placed, closed and still open and the p95 / max processing time (end of the
caller's speech to the first answer audio, from the call record); at the end every call row must be closed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from call_bench import pct  # noqa: E402
from sqlalchemy import select  # noqa: E402

from hotline.config import load_settings  # noqa: E402
from hotline.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from hotline.models import Call  # noqa: E402
from hotline.models.calls import CallTurn  # noqa: E402
from hotline.outcomes import Outcome  # noqa: E402
from ivr import prompts as P  # noqa: E402
from scripts.ports import free_port  # noqa: E402
from scripts.sandbox import Sandbox, started  # noqa: E402
from scripts.serve import prepare_serve, serve_env, start_serve, stop_serve  # noqa: E402
from speech.audio import silence, write_wav  # noqa: E402

SIPP = REPO / "tests" / "integration" / "sipp" / "uac_question.xml"
QUESTIONS = ["我家的狗要办狗证，需要带什么材料", "住房公积金提取要带什么材料", "市民卡丢了怎么补办", "我想办个狗证"]
LISTEN_S = 8.0  # how much of the answer each caller hears before hanging up


@dataclass
class Sample:
    at_s: float
    rss_mb: float


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def caller_wavs(work: Path) -> list[tuple[Path, float]]:
    """One mu-law WAV per question (greeting-long silence, the question, silence) and how long to stay on."""
    from speech.engine import make_synthesizer

    voice = make_synthesizer(load_settings(env={}))
    lead_ms = int(len(b"".join(voice.synthesize(P.GREETING_STAFFED))) / 16) + 1000
    out = []
    for i, text in enumerate(QUESTIONS):
        pcm = b"".join(voice.synthesize(text))
        raw, wav = work / f"q{i}.slin.wav", work / f"q{i}" / "caller.wav"
        wav.parent.mkdir()
        write_wav(raw, silence(lead_ms) + pcm + silence(int(LISTEN_S * 1000) + 5000))
        subprocess.run(["sox", str(raw), "-e", "u-law", str(wav)], check=True)
        out.append((wav, lead_ms / 1000 + len(pcm) / 16000 + LISTEN_S))
    return out


def line(sb: Sandbox, wavs: list[tuple[Path, float]], index: int, until: float, results: list[int]) -> None:
    """One phone line: call after call until ``until`` (monotonic)."""
    n = 0
    while time.monotonic() < until:
        wav, hold_s = wavs[(index + n) % len(wavs)]
        caller = f"139{index:02d}{n:06d}"
        cmd = ["sipp", "-sf", str(SIPP), "-s", "86909000", "-key", "caller", caller, f"127.0.0.1:{sb.sip_port}",
               "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-m", "1", "-nostdin", "-timeout", "120",
               "-timeout_error", "-d", str(int(hold_s * 1000))]
        results.append(subprocess.run(cmd, cwd=wav.parent, capture_output=True, timeout=180).returncode)
        n += 1


def report(sessions, t0: datetime, window_s: float, samples: list[Sample]) -> bool:  # noqa: ANN001
    with session_scope(sessions) as db:
        calls = db.execute(select(Call.id, Call.started_at, Call.outcome, Call.ended_at)).all()
        turns = db.execute(select(Call.started_at, CallTurn.latency_ms).join(CallTurn, CallTurn.call_id == Call.id)
                           .where(CallTurn.speaker == "caller", CallTurn.kind == "speech")).all()

    def window(at: datetime) -> int:
        return int(((at if at.tzinfo else at.replace(tzinfo=UTC)) - t0).total_seconds() // window_s)

    n_windows = max([window(c.started_at) for c in calls] + [0]) + 1
    print(f"\n{'window':>10} {'RSS MB':>8} {'calls':>6} {'closed':>7} {'open':>5} {'turns':>6} {'p95 ms':>7} "
          f"{'max ms':>7}")
    for w in range(n_windows):
        in_w = [c for c in calls if window(c.started_at) == w]
        closed = [c for c in in_w if c.outcome != Outcome.IN_PROGRESS.value and c.ended_at is not None]
        lat = [(t.latency_ms or {}).get("total") for t in turns if window(t.started_at) == w]
        lat = [x for x in lat if x is not None]
        rss = next((s.rss_mb for s in samples if int(s.at_s // window_s) == w + 1), samples[-1].rss_mb)
        span = f"{w * window_s / 60:g}-{(w + 1) * window_s / 60:g} min"
        print(f"{span:>10} {rss:>8.1f} {len(in_w):>6} "
              f"{len(closed):>7} {len(in_w) - len(closed):>5} {len(lat):>6} {pct(lat, 95):>7.0f} "
              f"{max(lat) if lat else float('nan'):>7.0f}")
    open_rows = [c for c in calls if c.outcome == Outcome.IN_PROGRESS.value or c.ended_at is None]
    first, last = samples[0].rss_mb, samples[-1].rss_mb
    print(f"\nRSS at start {first:.1f} MB, at end {last:.1f} MB, growth {last - first:+.1f} MB "
          f"({(last - first) / first * 100:+.1f} %); samples: "
          + ", ".join(f"{s.at_s / 60:.0f} min {s.rss_mb:.0f}" for s in samples))
    print(f"call rows: {len(calls)}, closed {len(calls) - len(open_rows)}, left open {len(open_rows)}")
    return not open_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--lines", type=int, default=10, help="simultaneous callers")
    parser.add_argument("--window", type=float, default=5.0, help="minutes per row of the table / RSS sample")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    sb = Sandbox.on_free_ports(f"soak-{os.getpid()}", agent_wait_s=5)
    env = serve_env(sb, work / "var", HOTLINE_PRERENDER_ANSWERS="20")
    wavs = caller_wavs(work)
    with started(sb):
        serve = None
        try:
            prepare_serve(env, work)
            serve = start_serve(env, work)
            log = work / "serve.log"
            window_s = args.window * 60
            print(f"soak: {args.lines} lines for {args.minutes:g} min, IVR pid {serve.pid}", flush=True)
            t0, m0 = datetime.now(UTC), time.monotonic()
            until = m0 + args.minutes * 60
            samples = [Sample(0.0, rss_mb(serve.pid))]
            results: list[int] = []
            threads = [threading.Thread(target=line, args=(sb, wavs, i, until, results), daemon=True)
                       for i in range(args.lines)]
            for t in threads:
                t.start()
                time.sleep(1.0)  # stagger the lines so greetings do not all start together
            next_sample = m0 + window_s
            while any(t.is_alive() for t in threads):
                time.sleep(1.0)
                if time.monotonic() >= next_sample:
                    samples.append(Sample(time.monotonic() - m0, rss_mb(serve.pid)))
                    print(f"  {samples[-1].at_s / 60:.1f} min: RSS {samples[-1].rss_mb:.1f} MB, calls {len(results)}",
                          flush=True)
                    next_sample += window_s
            time.sleep(3.0)  # the last hang-ups reach the call log
            samples.append(Sample(time.monotonic() - m0, rss_mb(serve.pid)))
            failed = sum(1 for r in results if r != 0)
            print(f"\nsipp calls {len(results)}, failed {failed}")
            sessions = make_sessionmaker(make_engine(load_settings(env=env).effective_database_url))
            ok = report(sessions, t0, window_s, samples)
            tracebacks = log.read_text(errors="replace").count("Traceback")
            print(f"tracebacks in serve.log: {tracebacks}")
            return 0 if ok and not failed and not tracebacks else 1
        finally:
            stop_serve(serve)
            print(f"\ncall records and serve.log kept in {work}")


if __name__ == "__main__":
    sys.exit(main())
