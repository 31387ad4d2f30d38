"""Shared by the reliability scenarios: light recognisers that really fail, and what a caller's line carried."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from ivr.audiosocket import split_frames
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request
from speech.api import Transcript
from speech.espeak_tts import EspeakSynthesizer
from tests.ivr.test_calls import wait_closed


class CrashingRecognizer:
    """A decoder that dies on every utterance, as a native library's failure surfaces in Python."""

    name = "crashing"

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript:
        self.calls += 1
        raise RuntimeError("decoder crashed: std::bad_alloc")


class HangingRecognizer:
    """Recognises (returns an empty transcript) until ``hang`` is set; then blocks until ``release`` is set —
    a decoder stuck in native code."""

    name = "hanging"

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def transcribe(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript:
        self.calls += 1
        if self.hang.is_set():
            self.release.wait(120)
            raise RuntimeError("released at the end of the test")
        return Transcript("", 0.0)


def espeak_question(text: str = "市民卡丢了怎么补办") -> bytes:
    return b"".join(EspeakSynthesizer(speed_wpm=200).synthesize(text))


def heard(received: bytes, audio: bytes) -> bool:
    """Every non-silent 20 ms frame of ``audio`` reached the caller (the line carries whole frames)."""
    got = set(split_frames(received))
    frames = [f for f in split_frames(audio)[:-1] if any(f)]  # the last frame is padded when sent
    return bool(frames) and all(f in got for f in frames)


async def call_until_released(rt, *, question: bytes | None = None, dtmf: str = "", call: CallIdentity | None = None,
                              timeout_s: float = 30.0):  # noqa: ANN001, ANN201 - IvrRuntime; (route vars, row, audio)
    """One call as the dialplan runs it (call-start, AudioSocket, call-route) until the IVR lets go."""
    call = call or CallIdentity()
    host, agi, audio = rt.settings.bind_host, rt.agi.port, rt.audiosocket.port
    await agi_request(host, agi, "call-start", [call.uuid], call)
    peer = await AudioSocketPeer.connect(host, audio, call.uuid)
    await asyncio.sleep(0.5)  # the greeting has started
    if question is not None:
        await peer.speak(question)
    for digit in dtmf:
        peer.press(digit)
        await asyncio.sleep(0.3)
    await asyncio.wait_for(peer.hung_up_by_ivr.wait(), timeout_s)
    await peer.close()
    route = await agi_request(host, agi, "call-route", [call.uuid], call)
    return route, await wait_closed(rt.settings.effective_database_url, call.uuid), bytes(peer.received)
