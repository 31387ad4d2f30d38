"""The call session's parts without TCP: the one command interpreter, playback, caller audio, a whole call.

The AudioSocket connection here is the real one (real parser, real framing) over an in-memory stream: bytes the
test writes are what Asterisk would send, and everything the IVR writes is kept and parsed back.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hotline.outcomes import Outcome
from ivr import flow as F
from ivr import prompts as P
from ivr.audiosocket import (
    AudioReceived,
    AudioSocketConnection,
    AudioSocketParser,
    HangupReceived,
    Pacer,
    encode_audio,
    encode_dtmf,
    encode_hangup,
    encode_uuid,
)
from ivr.calllog import CallLog
from ivr.harness import TextCall
from ivr.interpreter import InterpreterError, Played, interpret, run_sync
from ivr.media_in import CallerAudio, Heard
from ivr.playback import Playback
from ivr.ports import SessionDeps
from ivr.session import CallSession
from kb.api import Answer
from speech.audio import dbfs
from speech.vad import Endpointer
from tests.ivr.test_calls import load_call

FRAME = 320


# ---- the interpreter (pure) ---------------------------------------------------------------------------------


class Script:
    """A flow stand-in that returns canned commands per event type, and records the events it was given."""

    def __init__(self, replies: dict[type, list[F.Command]]) -> None:
        self.replies = replies
        self.events: list[F.Event] = []

    def handle(self, event: F.Event) -> list[F.Command]:
        self.events.append(event)
        return list(self.replies.get(type(event), []))


def _answer(code: str = "GA-001") -> Answer:
    return Answer(code, "养犬登记证核发", "公安", "materials", "请带身份证。", 0.9, False)


def test_a_question_command_feeds_its_reply_back_and_its_commands_run_first():
    flow = Script({F.Answered: [F.Say("请带身份证。", kind="answer"), F.Listen(8)]})
    done: list[F.Command] = []

    def perform(cmd: F.Command):
        done.append(cmd)
        return F.Answered(cmd.question, _answer()) if isinstance(cmd, F.Ask) else None

    run_sync(flow, [F.Ask("狗证要带什么"), F.Log("after")], perform)
    assert [type(c) for c in done] == [F.Ask, F.Say, F.Listen, F.Log]  # the answer before the rest of the batch
    assert isinstance(flow.events[0], F.Answered) and flow.events[0].question == "狗证要带什么"


def test_a_cut_say_drops_the_rest_of_the_batch_speech_but_not_the_rest():
    flow = Script({})
    steps = interpret(flow, [F.Say("一"), F.Say("二"), F.Listen(8), F.Say("三"), F.Log("x")])
    assert next(steps) == F.Say("一")
    assert steps.send(Played.CUT) == F.Listen(8)
    assert steps.send(None) == F.Log("x")
    with pytest.raises(StopIteration):
        steps.send(None)


def test_a_speaking_failure_reply_goes_to_the_flow():
    flow = Script({F.SpeechFailed: [F.Say("抱歉，系统出了点问题。"),
                                    F.CheckAgents("tts")]})
    seen: list[F.Command] = []

    def perform(cmd: F.Command):
        seen.append(cmd)
        if isinstance(cmd, F.Say) and cmd.text == "原来的话":
            return F.SpeechFailed("tts", "boom")
        return F.AgentStatus(True, True) if isinstance(cmd, F.CheckAgents) else Played.FINISHED

    run_sync(flow, [F.Say("原来的话")], perform)
    assert [type(e) for e in flow.events] == [F.SpeechFailed, F.AgentStatus]
    assert isinstance(seen[-1], F.CheckAgents)


def test_a_question_without_an_event_reply_is_a_driver_bug():
    with pytest.raises(InterpreterError, match="Ask needs an event"):
        run_sync(Script({}), [F.Ask("狗证")], lambda cmd: None)


def test_the_text_harness_and_the_session_share_the_interpreter(qa):
    """The flow tests drive TextCall; it must go through ivr.interpreter, not a copy of its loop."""
    import ivr.harness
    import ivr.session

    assert ivr.harness.run_sync.__module__ == ivr.session.run_async.__module__ == "ivr.interpreter"
    call = TextCall(qa)
    call.start()
    said = call.say("狗证要带什么材料")
    assert any("身份证" in s for s in said)
    assert isinstance(call.commands[0], F.Say) and any(isinstance(c, F.Ask) for c in call.commands)


# ---- an AudioSocket connection over memory --------------------------------------------------------------------


class _Writer:
    """What the IVR writes, kept; enough of asyncio.StreamWriter for AudioSocketConnection."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._closing = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    async def wait_closed(self) -> None:
        return None

    def get_extra_info(self, name: str):  # noqa: ANN201
        return ("memory", 0) if name == "peername" else None

    def sent(self) -> list:
        return list(AudioSocketParser().feed(bytes(self.data)))


def _connection() -> tuple[AudioSocketConnection, asyncio.StreamReader, _Writer]:
    reader, writer = asyncio.StreamReader(), _Writer()
    return AudioSocketConnection(reader, writer), reader, writer  # type: ignore[arg-type]


def _tone(ms: int, amplitude: int = 8000) -> bytes:
    import numpy as np

    t = np.arange(ms * 8) / 8000
    voiced = (amplitude * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype("<i2")
    return voiced.tobytes()


class _Quiet:
    """A synthesiser-less Speech: prompts from the cache only (the tests give every text a cached audio)."""

    def __init__(self, recognised: str = "") -> None:
        self.recognised = recognised
        self.recognised_pcm: list[bytes] = []

    async def recognize(self, pcm: bytes, hints=()):  # noqa: ANN001, ANN201
        from speech.api import Transcript

        self.recognised_pcm.append(pcm)
        return Transcript(self.recognised, 0.9)

    async def synthesize(self, text: str):  # noqa: ANN201
        raise RuntimeError(f"no voice for {text!r}")
        yield b""  # pragma: no cover - makes this an async generator

    def prompt_audio(self, text: str) -> bytes:
        return bytes(FRAME * 5)


def _playback(prompt: bytes = bytes(FRAME * 50)) -> tuple[Playback, list[bytes]]:
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    return Playback(Pacer(send), _Quiet(), {"提示音": prompt, "不可打断": prompt}), sent


# ---- playback ---------------------------------------------------------------------------------------------------


def test_playback_plays_a_cached_prompt_and_reports_the_first_frame():
    async def scenario():
        playback, sent = _playback(bytes(FRAME * 3))
        firsts: list[str] = []

        async def first(cmd: F.Say, _t0: float) -> None:
            firsts.append(cmd.text)

        played = await playback.say(F.Say("提示音"), first)
        return played, sent, firsts, playback.current

    played, sent, firsts, current = asyncio.run(scenario())
    assert played is Played.FINISHED and len(sent) == 3 and firsts == ["提示音"] and current is None


def test_playback_interrupt_cuts_only_a_say_that_allows_barge_in():
    async def scenario():
        playback, sent = _playback()

        async def first(_cmd: F.Say, _t0: float) -> None:
            return None

        async def talk_over(say: F.Say):
            task = asyncio.create_task(playback.say(say, first))
            while not sent:
                await asyncio.sleep(0.001)
            return playback.interrupt(), await task

        return await talk_over(F.Say("提示音")), await talk_over(F.Say("不可打断", barge_in=False))

    (cut, played), (not_cut, finished) = asyncio.run(scenario())
    assert cut == F.Say("提示音") and played is Played.CUT
    assert not_cut is None and finished is Played.FINISHED


def test_playback_synthesis_failure_propagates_to_the_session():
    async def scenario():
        playback, _ = _playback()

        async def first(_cmd: F.Say, _t0: float) -> None:
            return None

        await playback.say(F.Say("没有缓存的一句话"), first)

    with pytest.raises(RuntimeError, match="no voice"):
        asyncio.run(scenario())


# ---- caller audio ----------------------------------------------------------------------------------------------


def test_caller_audio_reframes_detects_speech_and_queues_what_the_dialog_acts_on(tmp_path):
    async def scenario():
        conn, reader, _ = _connection()
        playback, _ = _playback()
        speech = _Quiet()
        calllog = CallLog.from_settings(_settings(tmp_path))
        audio = CallerAudio(conn, Endpointer(end_silence_ms=400), playback, speech, lambda: (), calllog, None)
        call_id = uuid.uuid4()
        stream = encode_uuid(call_id) + bytes(FRAME * 10) + _tone(800) + bytes(FRAME * 40)
        # Odd-sized audio messages (not 20 ms): the reader re-frames them.
        payload = stream[len(encode_uuid(call_id)):]
        reader.feed_data(encode_uuid(call_id))
        for i in range(0, len(payload), 250):
            reader.feed_data(encode_audio(payload[i:i + 250]))
        reader.feed_data(encode_dtmf("0") + encode_hangup())
        reader.feed_eof()
        await audio.run()
        calllog.close()
        items = []
        while not audio.inputs.empty():
            items.append(audio.inputs.get_nowait())
        return audio, items, call_id, len(payload)

    audio, items, call_id, total = asyncio.run(scenario())
    assert audio.uuid == str(call_id)
    assert audio.frames_in == total // FRAME
    assert [type(i) for i in items] == [Heard, F.Dtmf, F.HungUp]
    assert items[0].reason == "silence" and len(items[0].pcm) >= 800 * 16 - FRAME * 5
    assert items[1] == F.Dtmf("0") and audio.hung_up


def test_caller_talking_over_a_prompt_cuts_it_and_is_recorded_on_the_call_clock(tmp_path, espeak_speech):
    question = espeak_speech.prompt_audio("公积金怎么提取")
    onset = next(i for i in range(0, len(question), FRAME) if dbfs(question[i:i + FRAME]) > -50) // FRAME

    async def scenario():
        conn, reader, _ = _connection()
        playback, _ = _playback(bytes(FRAME * 500))
        calllog = CallLog.from_settings(_settings(tmp_path))
        audio = CallerAudio(conn, Endpointer(), playback, _Quiet(), lambda: (), calllog, str(uuid.uuid4()))

        async def first(_cmd: F.Say, _t0: float) -> None:
            return None

        saying = asyncio.create_task(playback.say(F.Say("提示音"), first))
        await asyncio.sleep(0.05)
        reader.feed_data(b"".join(encode_audio(f) for f in _frames(bytes(FRAME * 25) + question)))
        reader.feed_eof()
        await audio.run()
        played = await saying
        calllog.close()
        return audio, played

    audio, played = asyncio.run(scenario())
    assert played is Played.CUT
    # the prompt was cut within the barge-in evidence window of the caller's first voiced frame, on the call's clock
    assert len(audio.barge_ins) == 1 and 0 < audio.barge_ins[0] - (25 + onset) * 20 <= 400


def _frames(pcm: bytes) -> list[bytes]:
    return [pcm[i:i + FRAME] for i in range(0, len(pcm), FRAME)]


def _settings(tmp_path):  # noqa: ANN001, ANN202
    from hotline.config import load_settings
    from hotline.db import upgrade

    url = f"sqlite:///{tmp_path / 'calls.db'}"
    upgrade(url)
    return load_settings(env={}, var_dir=str(tmp_path / "var"), database_url=url)


# ---- a whole call without sockets ------------------------------------------------------------------------------


class _Agents:
    def staffed(self) -> bool:
        return True

    async def status(self) -> F.AgentStatus:
        return F.AgentStatus(staffed=True, free=True)


def test_a_whole_call_pressing_0_is_transferred_and_the_row_says_escalated(tmp_path, qa):
    settings = _settings(tmp_path)

    async def scenario():
        conn, reader, writer = _connection()
        calllog = CallLog.from_settings(settings)
        cache = {text: bytes(FRAME * 10) for text in P.FIXED}
        deps = SessionDeps(speech=_Quiet(), qa=qa, endpointer=Endpointer, calllog=calllog, agents=_Agents(),
                           prompt_cache=cache)
        session = CallSession(conn, deps)
        call_id = uuid.uuid4()
        reader.feed_data(encode_uuid(call_id) + encode_audio(bytes(FRAME)) + encode_dtmf("0"))
        outcome = await asyncio.wait_for(session.run(), 30)
        calllog.close()
        return outcome, str(call_id), writer

    outcome, call_id, writer = asyncio.run(scenario())
    assert outcome is Outcome.ESCALATED
    sent = writer.sent()
    assert any(isinstance(e, AudioReceived) for e in sent) and isinstance(sent[-1], HangupReceived)
    row, turns, _ = load_call(settings.effective_database_url, call_id)
    assert row.outcome == Outcome.ESCALATED.value and row.ended_at is not None
    assert [t.dtmf for t in turns if t.kind == "dtmf"] == ["0"]
