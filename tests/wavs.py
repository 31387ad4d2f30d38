"""Small WAV files for tests that serve or play recordings (8 kHz mono 16-bit, what Asterisk records)."""

from __future__ import annotations

import math
import wave
from pathlib import Path


def write_wav(path: Path, seconds: float = 0.5, amplitude: int = 6000) -> bytes:
    """A 440 Hz tone (a browser really plays it) of ``seconds`` at ``path``; returns the file's bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(int(amplitude * math.sin(2 * math.pi * 440 * n / 8000)).to_bytes(2, "little", signed=True)
                      for n in range(int(8000 * seconds)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)
    return path.read_bytes()
