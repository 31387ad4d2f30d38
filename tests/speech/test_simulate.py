"""Simulated lines and voices for the speech evaluation: exact where a standard says so, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from speech.simulate import (
    FRAME,
    active_power,
    babble,
    drop_frames,
    g711_ulaw,
    mix_at_snr,
    shift_formants,
    shift_pitch,
    street_noise,
    ulaw_decode,
    ulaw_encode,
)

T = np.arange(16000) / 8000


def _harmonic(f0: float = 150.0) -> np.ndarray:
    return (0.1 * sum(np.sin(2 * np.pi * f0 * k * T) / k for k in range(1, 20))).astype(np.float32)


def _f0(audio: np.ndarray) -> float:
    a = audio[2000:6000]
    corr = np.correlate(a, a, "full")[len(a) - 1 :]
    return 8000 / (np.argmax(corr[35:100]) + 35)  # 80-230 Hz: one octave, no halving


def _centroid(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(len(audio), 1 / 8000)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_ulaw_matches_g711_reference_points():
    # ITU-T G.711 μ-law: 0 -> 0xFF, full positive scale -> 0x80, full negative -> 0x00; every code decodes and
    # re-encodes to itself (0x7F, negative zero, re-encodes as 0xFF).
    assert ulaw_encode(np.array([0, 32767, -32768], np.int16)).tolist() == [0xFF, 0x80, 0x00]
    codes = np.arange(256, dtype=np.uint8)
    again = ulaw_encode(ulaw_decode(codes))
    assert [c for c in range(256) if again[c] != c] == [0x7F]
    assert ulaw_decode(np.array([0x80], np.uint8))[0] == 32124


def test_ulaw_round_trip_keeps_speech_level_audio_at_about_38_db():
    x = (0.3 * np.sin(2 * np.pi * 440 * T)).astype(np.float32)
    y = g711_ulaw(x)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((x - y) ** 2))
    assert 33 < snr < 40


@pytest.mark.parametrize("snr_db", [20.0, 10.0])
def test_noise_is_mixed_at_the_asked_snr_over_active_speech(snr_db):
    speech = np.concatenate([np.zeros(4000, np.float32), _harmonic()[:8000], np.zeros(4000, np.float32)])
    noise = street_noise(3.0, np.random.default_rng(1))
    mixed = mix_at_snr(speech, noise, snr_db)
    measured = 10 * np.log10(active_power(speech) / np.mean((mixed - speech) ** 2))
    assert measured == pytest.approx(snr_db, abs=0.05)


def test_noise_and_packet_loss_are_reproducible_from_the_seed():
    a = street_noise(2.0, np.random.default_rng(7))
    assert np.array_equal(a, street_noise(2.0, np.random.default_rng(7)))
    assert not np.array_equal(a, street_noise(2.0, np.random.default_rng(8)))
    talkers = [_harmonic(120), _harmonic(210), _harmonic(170)]
    assert np.array_equal(babble(talkers, 2.0, np.random.default_rng(3)), babble(talkers, 2.0, np.random.default_rng(3)))


def test_packet_loss_silences_whole_20_ms_frames_at_about_the_rate():
    audio = np.ones(FRAME * 5000, np.float32)
    out, lost = drop_frames(audio, 0.02, np.random.default_rng(5))
    frames = out.reshape(-1, FRAME)
    silent = np.flatnonzero(~frames.any(axis=1))
    assert len(silent) == lost and 70 < lost < 130  # 2 % of 5000
    assert frames[frames.any(axis=1)].all()  # frames are lost whole, the rest untouched


def test_formant_shift_moves_the_spectrum_but_not_the_pitch():
    x = _harmonic()
    up, down = shift_formants(x, 1.15), shift_formants(x, 1 / 1.15)
    assert _centroid(down) < _centroid(x) < _centroid(up)
    assert _f0(up) == pytest.approx(_f0(x), rel=0.03) and _f0(down) == pytest.approx(_f0(x), rel=0.03)
    assert np.sqrt(np.mean(up**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.01)


@pytest.mark.parametrize("semitones", [3, -3])
def test_pitch_shift_moves_f0_by_semitones(semitones):
    shifted = shift_pitch(_harmonic(), semitones)
    assert len(shifted) == len(T)
    assert _f0(shifted) == pytest.approx(150 * 2 ** (semitones / 12), rel=0.04)
