"""Whole calls through the real Asterisk sandbox into a real `hotline serve`: answer accuracy and per-turn latency
with 1, 2, ... simultaneous callers. Needs root (the chroot), sipp and sox; run from the repo root:

    .venv/bin/python benchmarks/e2e_asterisk_bench.py [--concurrency 1 2 4]

Each caller waits for the greeting, asks one question (our TTS, streamed as RTP by sipp) and hangs up shortly
after the answer starts. Latencies come from the call record the IVR writes (endpoint, asr, qa, tts_first_frame,
total = end of speech to first answer audio).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from hotline.config import load_settings  # noqa: E402
from hotline.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from hotline.models import Call  # noqa: E402
from ivr import prompts as P  # noqa: E402
from scripts.ports import free_port  # noqa: E402
from scripts.sandbox import Sandbox, started  # noqa: E402
from scripts.serve import prepare_serve, serve_env, start_serve, stop_serve  # noqa: E402
from speech.audio import silence, write_wav  # noqa: E402

SIPP = REPO / "tests" / "integration" / "sipp" / "uac_question.xml"
QUESTIONS = [  # (question, expected item) — phrasings that survive 8 kHz mu-law and whisper base
    ("我家的狗要办狗证，需要带什么材料", "GA-001"),
    ("住房公积金提取要带什么材料", "GJJ-001"),
    ("市民卡丢了怎么补办", "SMK-001"),
    ("我想办个狗证", "GA-001"),
]


def caller_wavs(work: Path) -> tuple[list[Path], list[float], float]:
    from speech.engine import make_synthesizer

    voice = make_synthesizer(load_settings(env={}))
    lead_ms = int(len(b"".join(voice.synthesize(P.GREETING_STAFFED))) / 16) + 1000
    paths, lengths = [], []
    for i, (text, _) in enumerate(QUESTIONS):
        pcm = b"".join(voice.synthesize(text))
        raw, wav = work / f"q{i}.slin.wav", work / f"q{i}" / "caller.wav"
        wav.parent.mkdir()
        write_wav(raw, silence(lead_ms) + pcm + silence(15000))
        subprocess.run(["sox", str(raw), "-e", "u-law", str(wav)], check=True)
        paths.append(wav)
        lengths.append(len(pcm) / 16000)
    return paths, lengths, lead_ms / 1000


def place_call(sb: Sandbox, wav: Path, seconds: float, caller: str) -> int:
    cmd = ["sipp", "-sf", str(SIPP), "-s", "86909000", "-key", "caller", caller, f"127.0.0.1:{sb.sip_port}",
           "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-m", "1", "-nostdin", "-timeout", "90",
           "-timeout_error", "-d", str(int(seconds * 1000))]
    return subprocess.run(cmd, cwd=wav.parent, capture_output=True, timeout=120).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="e2e-bench-"))
    sb = Sandbox.on_free_ports(f"bench-{os.getpid()}")
    env = serve_env(sb, work / "var")
    wavs, lengths, lead_s = caller_wavs(work)
    with started(sb):
        serve = None
        try:
            prepare_serve(env, work)
            t0 = time.monotonic()
            serve = start_serve(env, work)
            print(f"hotline serve ready in {time.monotonic() - t0:.1f} s; greeting {lead_s - 1:.1f} s")
            sessions = make_sessionmaker(make_engine(load_settings(env=env).effective_database_url))
            number = 13900000000
            for n in args.concurrency:
                jobs = []
                for i in range(n):
                    q = i % len(QUESTIONS)
                    number += 1
                    jobs.append((str(number), q))
                with ThreadPoolExecutor(n) as pool:
                    codes = list(pool.map(lambda j: place_call(sb, wavs[j[1]], lead_s + lengths[j[1]] + 6, j[0]), jobs))
                time.sleep(1.0)
                totals = []
                print(f"\n{n} simultaneous caller(s); sipp exit codes {codes}")
                print(f"{'expected':<9} {'got':<9} {'endpoint':>8} {'asr':>6} {'qa':>5} {'tts1':>6} {'total':>6}  heard")
                with session_scope(sessions) as db:
                    for caller, q in jobs:
                        call = db.scalars(select(Call).where(Call.caller_number == caller)).one_or_none()
                        turn = next((t for t in call.turns if t.speaker == "caller" and t.kind == "speech"), None) \
                            if call else None
                        lat = (turn.latency_ms or {}) if turn else {}
                        totals.append(lat.get("total", float("nan")))
                        print(f"{QUESTIONS[q][1]:<9} {(turn.item_code if turn else None) or '-':<9} "
                              + " ".join(f"{lat.get(k, float('nan')):>{w}.0f}" for k, w in
                                         (("endpoint", 8), ("asr", 6), ("qa", 5), ("tts_first_frame", 6), ("total", 6)))
                              + f"  {turn.text if turn else '(no turn)'}")
                ok = [t for t in totals if t == t]
                if ok:
                    print(f"total ms: median {statistics.median(ok):.0f}, max {max(ok):.0f}")
        finally:
            stop_serve(serve)
            print(f"\ncall records and serve.log kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
