"""`hotline call`: play the telephone network against a running `hotline serve` (FastAGI + AudioSocket)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from sqlalchemy import select

from hotline.config import Settings
from ivr.errors import IvrError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("call", help="place a test call into a running IVR, as Asterisk would")
    p.add_argument("--say", metavar="TEXT", help="question to speak (synthesised), e.g. 犬证怎么办理")
    p.add_argument("--wav", metavar="FILE", help="question to play from a WAV file (any rate, mono)")
    p.add_argument("--dtmf", default="", metavar="DIGITS", help="keys to press after the question, e.g. 0")
    p.add_argument("--out", metavar="WAV", help="record everything the IVR said to this 8 kHz WAV file")
    p.add_argument("--caller", default="13800138000", help="caller number (agi_callerid)")
    p.add_argument("--host", help="IVR host (default: bind_host)")
    p.add_argument("--agi-port", type=int, help="FastAGI port (default: agi_port)")
    p.add_argument("--audiosocket-port", type=int, help="AudioSocket port (default: audiosocket_port)")
    p.add_argument("--wait-greeting", action="store_true", help="let the greeting finish instead of talking over it")
    p.add_argument("--timeout", type=float, default=60.0, help="give up waiting for the IVR after this many seconds")
    p.set_defaults(func=_cmd_call)


def _question_audio(args: argparse.Namespace, settings: Settings) -> tuple[bytes | None, object | None]:
    from speech.audio import read_wav_8k

    if args.wav:
        path = Path(args.wav)
        if not path.is_file():
            raise IvrError(f"--wav: no such file: {path}")
        return read_wav_8k(path), None
    if args.say:
        from ivr.runtime import load_speech

        speech = load_speech(settings)
        return speech.prompt_audio(args.say), speech
    return None, None


def _transcript(settings: Settings, call_uuid: str) -> list[str]:
    from hotline.db import make_engine, make_sessionmaker, session_scope
    from hotline.models.calls import Call, CallTurn

    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            call = s.scalar(select(Call).where(Call.call_uuid == call_uuid))
            if call is None:
                return []
            turns = s.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.seq))
            lines = []
            for t in turns:
                text = t.text if t.kind != "dtmf" else f"[按键 {t.dtmf}]"
                extra = f"  ({t.latency_ms})" if t.latency_ms else ""
                lines.append(f"{'来电' if t.speaker == 'caller' else 'IVR '}: {text}{extra}")
            lines.append(f"outcome: {call.outcome}")
            return lines
    except Exception:
        return []  # another machine's database: fall back to recognising the reply
    finally:
        engine.dispose()


def _cmd_call(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.harness import CallIdentity, place_call
    from speech.audio import write_wav

    host = args.host or settings.bind_host
    agi_port = args.agi_port or settings.agi_port
    as_port = args.audiosocket_port or settings.audiosocket_port
    question, speech = _question_audio(args, settings)
    call = CallIdentity(caller=args.caller)
    try:
        result = asyncio.run(place_call(
            host, agi_port, as_port, question=question, dtmf=args.dtmf, call=call,
            barge_in=not args.wait_greeting, timeout_s=args.timeout,
            on_progress=lambda msg: print(f"... {msg}", flush=True)))
    except (ConnectionError, OSError) as exc:
        raise IvrError(f"cannot reach the IVR at {host} (FastAGI {agi_port}, AudioSocket {as_port}): {exc}; "
                       "is `hotline serve` running?") from None
    print(f"call {call.uuid}")
    print(f"call-start variables: {result.start_vars}")
    if args.out:
        write_wav(args.out, result.reply_audio)
        print(f"IVR audio ({len(result.reply_audio) / 16000:.1f} s) written to {args.out}")
    lines = _transcript(settings, call.uuid)
    if not lines and result.answer_audio:
        if speech is None:
            from ivr.runtime import load_speech

            speech = load_speech(settings)
        text = asyncio.run(speech.recognize(result.answer_audio, ())).text
        lines = [f"IVR (recognised): {text}"]
    print("\n".join(lines))
    print(f"route: {result.route_vars.get('HOTLINE_ROUTE')}  variables: {result.route_vars}")
    return 0
