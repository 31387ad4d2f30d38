"""The caller's side of a call, in real time: AudioSocket events → 20 ms frames → endpointer → caller inputs.

``CallerAudio.run`` is the call's reader task. It feeds every audio frame to the endpointer, stops playback the
moment the caller starts talking over a prompt that allows barge-in (the endpointer's pre-roll keeps their first
words), starts recognition early at a pause (speculative end of turn), and queues what the dialog must act on:
``Heard`` utterances, ``F.Dtmf`` keys, ``F.HungUp``, or the exception that broke the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr import flow as F
from ivr.audiosocket import (
    AudioReceived,
    AudioSocketConnection,
    DtmfReceived,
    ErrorReceived,
    HangupReceived,
    UuidReceived,
)
from ivr.calllog import CallLog
from ivr.playback import Playback
from ivr.ports import Speech
from speech.api import FRAME_BYTES, FRAME_MS
from speech.vad import Endpointer, SpeechEnded, SpeechPaused, SpeechStarted


@dataclass
class Early:
    """Recognition started at a pause (speech.vad.SpeechPaused), before the end of the turn was decided."""

    pcm: bytes
    hints: tuple[str, ...]
    task: asyncio.Task[Any]
    at: float


@dataclass
class Heard:
    """One caller utterance, as the endpointer closed it."""

    pcm: bytes
    reason: str
    at: float  # monotonic time of the end-of-speech decision
    endpoint_ms: float | None
    early: Early | None = None  # the same audio, already being recognised


CallerInput = Heard | F.Dtmf | F.HungUp | F.Timer | Exception


class CallerAudio:
    def __init__(self, conn: AudioSocketConnection, endpointer: Endpointer, playback: Playback, speech: Speech,
                 hints: Callable[[], tuple[str, ...]], calllog: CallLog, uuid: str | None) -> None:
        self.conn = conn
        self.endpointer = endpointer
        self.playback = playback
        self.speech = speech
        self.hints = hints
        self.calllog = calllog
        self.uuid = uuid
        self.inputs: asyncio.Queue[CallerInput] = asyncio.Queue()
        self.got_uuid = asyncio.Event()
        self.speaking = False  # between SpeechStarted and SpeechEnded
        self.hung_up = False
        self.early: Early | None = None
        self.frames_in = 0  # caller audio received, in 20 ms frames: the call's own clock
        self.barge_ins: list[int] = []  # caller-audio time (ms) at which playback was cut
        self._frame_buf = bytearray()

    async def run(self) -> None:
        try:
            async for event in self.conn.events():
                if isinstance(event, AudioReceived):
                    self._audio(event.pcm)
                elif isinstance(event, UuidReceived):
                    if self.uuid is None:
                        self.uuid = str(event.uuid)
                        self.got_uuid.set()
                elif isinstance(event, DtmfReceived):
                    self._interrupt()
                    self.inputs.put_nowait(F.Dtmf(event.digit))
                elif isinstance(event, HangupReceived | ErrorReceived):
                    self._gone()
                    return
        except Exception as exc:  # malformed bytes, or a bug: the dialog loop fails this call with it
            self.hung_up = True
            self.playback.cut()
            self.inputs.put_nowait(exc)

    def cancel_early(self) -> None:
        if self.early is not None:
            self.early.task.cancel()
            self.early = None

    def _gone(self) -> None:
        self.hung_up = True
        interrupted = self.playback.current.kind if self.playback.current else None
        self.playback.cut()
        self.inputs.put_nowait(F.HungUp(interrupted))

    def _audio(self, pcm: bytes) -> None:
        # The endpointer takes exact 20 ms frames; Asterisk sends those, other peers may not.
        self._frame_buf += pcm
        while len(self._frame_buf) >= FRAME_BYTES:
            frame = bytes(self._frame_buf[:FRAME_BYTES])
            del self._frame_buf[:FRAME_BYTES]
            self._frame(frame)

    def _frame(self, frame: bytes) -> None:
        self.frames_in += 1
        self.endpointer.playing = self.playback.playing
        for ev in self.endpointer.feed(frame):
            if isinstance(ev, SpeechStarted):
                self.speaking = True
                self._interrupt()
            elif isinstance(ev, SpeechPaused):
                self._recognize_early(ev.pcm)
            elif isinstance(ev, SpeechEnded):
                self._ended(ev)

    def _ended(self, ev: SpeechEnded) -> None:
        self.speaking = False
        early, self.early = self.early, None
        if early is not None and early.pcm != ev.pcm:
            early.task.cancel()  # the caller went on after the pause: that audio was not the turn
            early = None
        if ev.reason == "too_short":
            return  # a click or a cough: nothing to recognise
        # The endpoint decision comes end_silence_ms after the last voiced frame.
        endpoint_ms = float(self.endpointer.end_silence_ms) or None
        self.inputs.put_nowait(Heard(ev.pcm, ev.reason, time.monotonic(), endpoint_ms, early))

    def _recognize_early(self, pcm: bytes) -> None:
        """Speculative end of turn: recognise the audio up to a pause now; the turn's end, end_silence_ms after
        the last word, usually confirms it and the result is ready sooner. A superseded guess is cancelled
        (dropped from the recognition queue if it has not started)."""
        self.cancel_early()
        hints = self.hints()
        task = asyncio.get_running_loop().create_task(self.speech.recognize(pcm, hints), name="early-asr")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # an unused guess's error is not news
        self.early = Early(pcm, hints, task, time.monotonic())

    def _interrupt(self) -> None:
        cut = self.playback.interrupt()
        if cut is None:
            return
        self.barge_ins.append(self.frames_in * FRAME_MS)
        if self.uuid:
            self.calllog.event(self.uuid, "barge_in", {"prompt": cut.kind, "text": cut.text[:40]})
