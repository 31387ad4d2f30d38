"""The two small interfaces every speech backend implements, and the values they exchange.

Audio everywhere in the hotline is 8 kHz, 16-bit signed little-endian mono PCM ("slin"), 20 ms per frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 320


class SpeechError(RuntimeError):
    """Base for speech failures; the message says what is missing and how to install it."""


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
