from __future__ import annotations

import wave

import numpy as np
import pytest

from speech.api import FRAME_BYTES, AudioFormatError
from speech.audio import (
    SILENCE_DBFS,
    dbfs,
    duration_s,
    float_to_pcm,
    frames,
    pcm_to_float,
    read_wav,
    read_wav_8k,
    resample,
    resample_pcm,
    rms,
    silence,
    wav_bytes,
    write_wav,
)
from tests.speech.conftest import tone


def test_frames_are_320_bytes_and_the_tail_is_padded():
    pcm = b"\x01\x00" * 400  # 800 bytes = 2.5 frames
    out = list(frames(pcm))
    assert [len(f) for f in out] == [FRAME_BYTES] * 3
    assert out[-1][160:] == b"\x00" * 160
    assert len(list(frames(pcm, pad=False))) == 2


def test_odd_byte_counts_are_rejected_with_a_clear_error():
    with pytest.raises(AudioFormatError, match="odd byte count 3"):
        list(frames(b"\x00\x00\x00"))
    with pytest.raises(AudioFormatError):
        rms(b"\x00")


def test_float_pcm_round_trip_and_clipping():
    samples = np.array([0.0, 0.5, -0.5, 1.5, -1.5], dtype=np.float32)
    back = pcm_to_float(float_to_pcm(samples))
    assert back[:3] == pytest.approx([0.0, 0.5, -0.5], abs=1e-4)
    assert back[3] == pytest.approx(32767 / 32768) and back[4] == -1.0  # clipped, not wrapped


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (24000, 8000), (8000, 24000)])
def test_resample_keeps_duration_and_frequency(src, dst):
    signal = tone(1.0, hz=300, rate=src)
    out = resample(signal, src, dst)
    assert len(out) == dst
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) * dst / len(out) == pytest.approx(300, abs=2)


def test_downsampling_removes_what_8k_cannot_carry():
    high = tone(1.0, hz=6000, rate=24000)  # above 4 kHz Nyquist: must be filtered, not aliased to 2 kHz
    assert np.max(np.abs(resample(high, 24000, 8000)[200:-200])) < 0.01  # edges: filter start-up only


def test_unsupported_rate_is_a_clear_error():
    with pytest.raises(AudioFormatError, match="unsupported source rate 12345"):
        resample(np.zeros(10, np.float32), 12345, 8000)


def test_rms_and_dbfs():
    assert dbfs(silence(100)) == SILENCE_DBFS
    full = float_to_pcm(tone(1.0, amplitude=1.0))
    assert dbfs(full) == pytest.approx(-3.01, abs=0.1)  # a full-scale sine
    assert dbfs(float_to_pcm(tone(1.0, amplitude=0.1))) == pytest.approx(-23.01, abs=0.1)
    assert rms(silence(20)) == 0.0


def test_wav_round_trip_and_any_rate_to_8k(tmp_path):
    pcm16k = float_to_pcm(tone(0.5, rate=16000))
    path = tmp_path / "a.wav"
    write_wav(path, pcm16k, 16000)
    data, rate = read_wav(path)
    assert rate == 16000 and data == pcm16k
    pcm8k = read_wav_8k(path)
    assert duration_s(pcm8k) == pytest.approx(0.5)
    assert read_wav(wav_bytes(pcm8k))[1] == 8000


def test_stereo_wav_is_mixed_to_mono(tmp_path):
    path = tmp_path / "stereo.wav"
    left = (np.ones(800) * 1000).astype("<i2")
    right = (np.ones(800) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.stack([left, right], axis=1).tobytes())
    pcm, rate = read_wav(path)
    assert rate == 8000 and set(np.frombuffer(pcm, "<i2")) == {2000}


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(AudioFormatError, match="no such audio file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    with pytest.raises(AudioFormatError, match="not a PCM WAV"):
        read_wav(tmp_path / "junk.wav")
    eight_bit = tmp_path / "u8.wav"
    with wave.open(str(eight_bit), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 100)
    with pytest.raises(AudioFormatError, match="16-bit"):
        read_wav(eight_bit)


def test_resample_pcm_same_rate_is_identity():
    pcm = float_to_pcm(tone(0.1))
    assert resample_pcm(pcm, 8000, 8000) == pcm


def test_resample_with_the_designed_once_filter_equals_scipys_own_design():
    from scipy.signal import resample_poly

    x = np.random.default_rng(3).uniform(-0.5, 0.5, 24000).astype(np.float32)
    ours = resample(x, 24000, 8000)
    np.testing.assert_allclose(ours, resample_poly(x, 1, 3), atol=1e-6)
    assert np.array_equal(resample(x, 24000, 8000), ours)  # the cached filter is not altered by a call
