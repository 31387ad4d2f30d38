"""The Vosk path end to end with the Korean model package (the only Vosk model installable here)."""

from __future__ import annotations

import pytest

from speech.api import ModelUnavailableError
from speech.audio import silence
from speech.vosk_asr import VoskRecognizer

pytestmark = pytest.mark.speech


@pytest.fixture(scope="module")
def vosk_ko(vosk_ko_dir):
    recognizer = VoskRecognizer(vosk_ko_dir)
    recognizer.load()
    return recognizer


def test_grammar_picks_the_spoken_phrase(vosk_ko, espeak_korean):
    yes_no = ["네", "아니요"]
    assert vosk_ko.transcribe(espeak_korean("아니요"), hints=yes_no).text == "아니요"
    assert vosk_ko.transcribe(espeak_korean("네"), hints=yes_no).text == "네"


def test_digit_grammar(vosk_ko, espeak_korean):
    transcript = vosk_ko.transcribe(espeak_korean("하나"), hints=["하나", "둘", "셋", "넷"])
    assert transcript.text == "하나" and transcript.confidence > 0.5 and transcript.engine == "vosk"


def test_open_recognition_without_hints(vosk_ko, espeak_korean):
    assert vosk_ko.transcribe(espeak_korean("네")).text == "네"


def test_phrases_outside_the_vocabulary_are_dropped_from_the_grammar(vosk_ko, espeak_korean):
    # "是的" is not Korean: the grammar keeps only 아니요, which the audio says.
    assert vosk_ko.transcribe(espeak_korean("아니요"), hints=["是的", "아니요"]).text == "아니요"


def test_silence_is_empty(vosk_ko):
    transcript = vosk_ko.transcribe(silence(1000), hints=["네", "아니요"])
    assert transcript.text == "" and transcript.confidence == 0.0


def test_unconfigured_model_dir_explains_how_to_add_one():
    with pytest.raises(ModelUnavailableError, match="vosk_model_dir is not set"):
        VoskRecognizer("").transcribe(silence(100))


def test_a_directory_that_is_not_a_model_is_refused_without_downloading(tmp_path):
    with pytest.raises(ModelUnavailableError, match="not a Vosk model directory"):
        VoskRecognizer(tmp_path).load()
