"""slin helpers: 20 ms frames, resampling, float<->int16, WAV files, loudness.

"slin" is 16-bit signed little-endian mono PCM; the hotline's wire rate is 8 kHz (`SAMPLE_RATE`).
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Iterator
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import firwin, resample_poly

from speech.api import FRAME_BYTES, SAMPLE_RATE, AudioFormatError

SUPPORTED_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
SILENCE_DBFS = -96.0  # what an all-zero signal reports instead of -inf


def check_pcm(pcm: bytes) -> None:
    """Raise AudioFormatError unless ``pcm`` is a whole number of 16-bit samples."""
    if not isinstance(pcm, bytes | bytearray | memoryview):
        raise AudioFormatError(f"expected PCM bytes, got {type(pcm).__name__}")
    if len(pcm) % 2:
        raise AudioFormatError(f"slin must be 16-bit samples: odd byte count {len(pcm)}")


def _check_rate(rate: int, what: str = "sample rate") -> None:
    if rate not in SUPPORTED_RATES:
        accepted = ", ".join(str(r) for r in SUPPORTED_RATES)
        raise AudioFormatError(f"unsupported {what} {rate} Hz, accepted: {accepted}")


def pcm_to_float(pcm: bytes) -> np.ndarray:
    """int16 slin -> float32 in [-1, 1)."""
    check_pcm(pcm)
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm(samples: np.ndarray) -> bytes:
    """float in [-1, 1] -> int16 slin; values outside are clipped rather than wrapped."""
    arr = np.asarray(samples, dtype=np.float32)
    return (np.clip(arr, -1.0, 32767 / 32768) * 32768.0).astype("<i2").tobytes()


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling of float samples (anti-aliased, so 24k -> 8k keeps speech clean)."""
    _check_rate(src_rate, "source rate")
    _check_rate(dst_rate, "target rate")
    arr = np.asarray(samples, dtype=np.float32)
    if src_rate == dst_rate or arr.size == 0:
        return arr
    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    return resample_poly(arr, up, down, window=_lowpass(up, down)).astype(np.float32)


@lru_cache(maxsize=32)
def _lowpass(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR scipy's resample_poly would design on every call, designed once per rate pair
    (same taps, so the output is identical; resample_poly copies it, so the cached array is never modified)."""
    max_rate = max(up, down)
    return firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)


def resample_pcm(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample slin bytes (int16 in, int16 out)."""
    if src_rate == dst_rate:
        check_pcm(pcm)
        return bytes(pcm)
    return float_to_pcm(resample(pcm_to_float(pcm), src_rate, dst_rate))


def frames(pcm: bytes, frame_bytes: int = FRAME_BYTES, pad: bool = True) -> Iterator[bytes]:
    """Split slin into fixed frames (320 bytes = 20 ms at 8 kHz); the tail is zero-padded or dropped."""
    check_pcm(pcm)
    for start in range(0, len(pcm), frame_bytes):
        chunk = bytes(pcm[start : start + frame_bytes])
        if len(chunk) < frame_bytes:
            if not pad:
                return
            chunk += b"\x00" * (frame_bytes - len(chunk))
        yield chunk


def silence(ms: int, rate: int = SAMPLE_RATE) -> bytes:
    return b"\x00\x00" * (rate * ms // 1000)


def duration_s(pcm: bytes, rate: int = SAMPLE_RATE) -> float:
    return len(pcm) / 2 / rate


def rms(pcm: bytes) -> float:
    """Root mean square of int16 samples, in sample units (0..32768)."""
    check_pcm(pcm)
    if not pcm:
        return 0.0
    arr = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(arr * arr)))


def dbfs(pcm: bytes) -> float:
    """Loudness relative to full scale; silence reports SILENCE_DBFS instead of -inf."""
    value = rms(pcm)
    if value <= 0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20 * math.log10(value / 32768.0))


def read_wav(source: str | Path | bytes) -> tuple[bytes, int]:
    """Read a 16-bit PCM WAV (path or bytes) -> (mono slin, rate). Stereo is averaged to mono."""
    try:
        with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as handle:
            width, channels, rate = handle.getsampwidth(), handle.getnchannels(), handle.getframerate()
            data = handle.readframes(handle.getnframes())
    except FileNotFoundError:
        raise AudioFormatError(f"no such audio file: {source}") from None
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"not a PCM WAV file ({exc}); convert with: sox in.any -b 16 out.wav") from None
    if width != 2:
        raise AudioFormatError(f"WAV must be 16-bit, got {width * 8}-bit; convert with: sox in.wav -b 16 out.wav")
    if channels > 1:
        arr = np.frombuffer(data[: len(data) - len(data) % (2 * channels)], dtype="<i2").reshape(-1, channels)
        data = arr.mean(axis=1).astype("<i2").tobytes()
    return data, rate


def read_wav_8k(source: str | Path | bytes) -> bytes:
    """Read any supported-rate 16-bit WAV and return 8 kHz slin."""
    pcm, rate = read_wav(source)
    return resample_pcm(pcm, rate, SAMPLE_RATE)


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    check_pcm(pcm)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm)
    return buf.getvalue()


def write_wav(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    Path(path).write_bytes(wav_bytes(pcm, rate))
