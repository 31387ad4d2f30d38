"""The two small interfaces every speech backend implements, and the values they exchange.

Audio everywhere in the hotline is 8 kHz, 16-bit signed little-endian mono PCM ("slin"), 20 ms per frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hotline.errors import HotlineError

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 320


class SpeechError(HotlineError, RuntimeError):
    """Base for speech failures; the message says what is missing and how to install it."""


class ModelUnavailableError(SpeechError):
    """A model or engine is not installed/configured; the message names the fix."""


class AudioFormatError(SpeechError, ValueError):
    """Audio that is not what the caller said it is (odd byte count, unsupported rate, not a WAV...)."""


class RecognitionError(SpeechError):
    """The recogniser failed on this utterance (the flow apologises and offers an agent)."""


class SynthesisError(SpeechError):
    """The synthesiser failed on this text (the fallback chain tries the next engine)."""


@dataclass(frozen=True)
class Transcript:
    """A recognition result. ``confidence`` is 0..1; ``text`` is Simplified Chinese."""

    text: str
    confidence: float
    final: bool = True
    latency_ms: float = 0.0
    engine: str = ""
    timings: dict[str, float] = field(default_factory=dict)


class Recognizer(Protocol):
    """Speech to text for one utterance of 8 kHz slin audio; shared by all calls (thread-safe)."""

    name: str

    def transcribe(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript: ...


class Synthesizer(Protocol):
    """Text to 8 kHz slin audio, yielded sentence by sentence so playback can start early."""

    name: str

    def synthesize(self, text: str) -> Iterator[bytes]: ...
