from __future__ import annotations

import numpy as np
import pytest

from speech.api import AudioFormatError
from speech.audio import float_to_pcm, frames, pcm_to_float, silence
from speech.espeak_tts import EspeakSynthesizer
from speech.vad import Endpointer, SpeechEnded, SpeechPaused, SpeechStarted
from tests.speech.conftest import white_noise


@pytest.fixture(scope="module")
def spoken() -> bytes:
    """About 2 s of real speech (espeak-ng), 8 kHz, trimmed to where it is audible."""
    pcm = b"".join(EspeakSynthesizer().synthesize("请问市民卡丢了怎么补办"))
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, "<i2")) > 300)
    return pcm[loud[0] * 2 : (loud[-1] + 1) * 2]


def run(endpointer: Endpointer, pcm: bytes) -> list:
    events = []
    for frame in frames(pcm):
        events += endpointer.feed(frame)
    return events


def scaled(pcm: bytes, gain: float) -> bytes:
    return float_to_pcm(pcm_to_float(pcm) * gain)


def test_silence_gives_no_events():
    assert run(Endpointer(), silence(3000)) == []


def test_one_utterance_between_silences(spoken):
    events = run(Endpointer(end_silence_ms=600), silence(500) + spoken + silence(1500))
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    started, ended = events
    assert ended.reason == "silence"
    assert not started.barge_in
    assert 400 <= started.offset_ms <= 700  # speech begins at 500 ms
    # The utterance holds all the speech plus pre-roll, not the whole trailing second.
    assert len(spoken) // 16 - 300 <= ended.duration_ms <= len(spoken) // 16 + 600


def test_preroll_keeps_the_word_onset(spoken):
    pcm = silence(500) + spoken + silence(1000)
    ended = [e for e in run(Endpointer(), pcm) if isinstance(e, SpeechEnded)][0]
    onset = np.flatnonzero(np.abs(np.frombuffer(spoken, "<i2")) > 300)[0] * 2  # first audible byte
    # The first audible samples of the speech are inside the utterance (nothing clipped at the start).
    assert spoken[onset : onset + 3200] in ended.pcm


def test_two_utterances_are_two_events(spoken):
    pcm = silence(300) + spoken + silence(1000) + spoken + silence(1000)
    ended = [e for e in run(Endpointer(), pcm) if isinstance(e, SpeechEnded)]
    assert [e.reason for e in ended] == ["silence", "silence"]


def test_short_pause_inside_speech_does_not_end_it(spoken):
    pcm = silence(300) + spoken + silence(300) + spoken + silence(1000)
    ended = [e for e in run(Endpointer(end_silence_ms=600), pcm) if isinstance(e, SpeechEnded)]
    assert len(ended) == 1 and ended[0].duration_ms > 2 * len(spoken) // 16 - 200


def test_steady_white_noise_is_not_speech():
    noise = float_to_pcm(white_noise(6.0, amplitude=0.02))
    ended = [e for e in run(Endpointer(), noise) if isinstance(e, SpeechEnded) and e.reason != "too_short"]
    assert ended == []


def test_speech_over_background_noise_is_found(spoken):
    noise = pcm_to_float(float_to_pcm(white_noise(1.0 + len(spoken) / 16000 + 1.5, amplitude=0.01)))
    voice = pcm_to_float(silence(1000) + spoken + silence(1500))
    mixed = float_to_pcm(noise[: len(voice)] + voice)
    ended = [e for e in run(Endpointer(), mixed) if isinstance(e, SpeechEnded)]
    assert [e.reason for e in ended] == ["silence"]


def test_long_speech_is_cut_at_max_utterance(spoken):
    events = run(Endpointer(max_utterance_s=1.0), silence(200) + spoken + silence(800))
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert ended[0].reason == "max_length"
    assert ended[0].duration_ms == pytest.approx(1000, abs=40)


def test_a_click_is_too_short(spoken):
    burst = spoken[8000:9600]  # 100 ms of speech
    events = run(Endpointer(min_speech_ms=300), silence(500) + burst + silence(1000))
    assert all(e.reason == "too_short" for e in events if isinstance(e, SpeechEnded))


def test_our_own_echo_does_not_barge_in_but_the_caller_does(spoken):
    endpointer = Endpointer()
    run(endpointer, silence(500))  # line noise floor
    endpointer.playing = True
    echo = scaled(spoken + spoken, 0.05)  # our prompt coming back ~26 dB down
    assert [e for e in run(endpointer, echo) if isinstance(e, SpeechStarted)] == []
    # The caller talks over the prompt (echo still present underneath).
    caller = float_to_pcm(pcm_to_float(spoken) + pcm_to_float(scaled(spoken[::-1][1:] + b"\x00", 0.05)))
    started = [e for e in run(endpointer, caller) if isinstance(e, SpeechStarted)]
    assert started and started[0].barge_in


def test_barge_in_needs_more_speech_than_a_normal_start(spoken):
    burst = silence(500) + spoken[8000:9600] + silence(500)  # 100 ms of loud speech
    idle, playing = Endpointer(), Endpointer()
    playing.playing = True
    assert any(isinstance(e, SpeechStarted) for e in run(idle, burst))
    assert not any(isinstance(e, SpeechStarted) for e in run(playing, burst))


def test_wrong_frame_size_is_a_clear_error():
    with pytest.raises(AudioFormatError, match="320-byte frames"):
        Endpointer().feed(b"\x00" * 160)


def test_a_pause_announces_the_audio_the_end_will_carry(spoken):
    events = run(Endpointer(end_silence_ms=600, early_ms=300), silence(300) + spoken + silence(1000))
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]
    assert events[1].pcm == events[2].pcm  # recognition started at the pause is the turn's recognition


def test_speech_after_a_pause_supersedes_it(spoken):
    pcm = silence(300) + spoken + silence(400) + spoken + silence(1000)
    events = run(Endpointer(end_silence_ms=600, early_ms=300), pcm)
    paused = [e for e in events if isinstance(e, SpeechPaused)]
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(paused) == 2 and len(ended) == 1
    assert paused[0].pcm != ended[0].pcm and paused[1].pcm == ended[0].pcm


def test_no_pause_event_unless_asked_or_for_a_click(spoken):
    assert not [e for e in run(Endpointer(), silence(300) + spoken + silence(1000)) if isinstance(e, SpeechPaused)]
    click = silence(300) + scaled(spoken[:1600], 1.0) + silence(1000)  # 100 ms: shorter than min_speech_ms
    assert not [e for e in run(Endpointer(early_ms=300), click) if isinstance(e, SpeechPaused)]


@pytest.mark.parametrize("early_ms", [100, 600, 900])
def test_a_pause_must_keep_the_trailing_audio_and_come_before_the_end(early_ms):
    with pytest.raises(ValueError, match="early_ms"):
        Endpointer(end_silence_ms=600, early_ms=early_ms)
