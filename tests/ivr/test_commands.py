"""`hotline call` through the real CLI entry point against an IVR running on real sockets (in a thread)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from cli.main import main
from ivr.runtime import IvrRuntime
from speech.audio import duration_s, read_wav_8k, write_wav


class IvrThread:
    """An IvrRuntime on its own event loop, so the CLI (which runs asyncio.run itself) can call into it."""

    def __init__(self, settings, speech, qa, prerender: bool = True) -> None:
        self.runtime = IvrRuntime(settings, speech=speech, knowledge=qa, prerender=prerender)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> IvrRuntime:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.runtime.start(), self.loop).result(120)
        return self.runtime

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runtime.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _env(monkeypatch, settings) -> None:
    monkeypatch.setenv("HOTLINE_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", settings.effective_database_url)


def test_call_with_dtmf_0_prints_transcript_and_queue_route(settings, espeak_speech, qa, ivr_settings, monkeypatch,
                                                            capsys, tmp_path):
    s = ivr_settings(settings)
    _env(monkeypatch, s)
    out = tmp_path / "reply.wav"
    with IvrThread(s, espeak_speech, qa) as rt:
        code = main(["call", "--dtmf", "0", "--agi-port", str(rt.agi.port), "--audiosocket-port",
                     str(rt.audiosocket.port), "--out", str(out), "--caller", "13500001111", "--timeout", "20"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "route: queue" in printed
    assert "[按键 0]" in printed and "正在为您转接人工服务" in printed
    assert "outcome: escalated" in printed
    assert duration_s(read_wav_8k(out)) > 1.0


def test_call_reports_an_unreachable_ivr_in_one_line(settings, monkeypatch, capsys):
    _env(monkeypatch, settings)
    code = main(["call", "--dtmf", "0", "--agi-port", "1", "--audiosocket-port", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("hotline: cannot reach the IVR") and "hotline serve" in err


def test_call_with_missing_wav_is_an_error(settings, monkeypatch, capsys, tmp_path):
    _env(monkeypatch, settings)
    assert main(["call", "--wav", str(tmp_path / "nope.wav")]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.speech
def test_call_with_a_spoken_question_from_wav(settings, zh_speech, qa, ivr_settings, monkeypatch, capsys,
                                              tmp_path: Path):
    s = ivr_settings(settings)
    _env(monkeypatch, s)
    wav = tmp_path / "q.wav"
    write_wav(wav, zh_speech.prompt_audio("护照怎么办理"))
    with IvrThread(s, zh_speech, qa, prerender=False) as rt:
        code = main(["call", "--wav", str(wav), "--agi-port", str(rt.agi.port), "--audiosocket-port",
                     str(rt.audiosocket.port), "--timeout", "40"])
    printed = capsys.readouterr().out
    assert code == 0
    # Plumbing, not recognition accuracy (tests/ivr/test_calls.py checks that): the question was heard as a
    # caller turn with its latencies, the IVR replied after it, and the call left through call-route.
    caller_line = next(line for line in printed.splitlines() if line.startswith("来电: "))
    assert "'total':" in caller_line
    assert printed.split(caller_line, 1)[1].lstrip().startswith("IVR : ")
    assert "route: " in printed
