"""Fixtures for the reliability scenarios: an IVR on real sockets running in its own event-loop thread (so a
synchronous Hypothesis test can throw bytes at it while healthy calls run beside), and the log lines it writes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hotline.config import Settings, load_settings
from hotline.db import upgrade
from ivr.runtime import IvrRuntime
from speech.engine import SpeechEngine
from speech.espeak_tts import EspeakSynthesizer
from speech.fallback import FallbackSynthesizer
from speech.vosk_asr import VoskRecognizer
from tests.ivr.conftest import ivr_settings, qa, running_ivr  # noqa: F401 - fixtures shared with tests/ivr

T = TypeVar("T")


class LogLines(logging.Handler):
    """Every record the IVR logs (any thread), kept as text for the scenario to read."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._lock2 = threading.Lock()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.lines.append(f"{record.levelname} {record.name} {record.getMessage()}")

    def matching(self, *words: str) -> list[str]:
        with self._lock2:
            return [line for line in self.lines if all(w in line for w in words)]


@pytest.fixture(scope="session")
def espeak_prompts(tmp_path_factory) -> Path:
    """One on-disk prompt cache for espeak-ng across the package: prompts are rendered once, as at install."""
    return tmp_path_factory.mktemp("espeak-prompts")


@pytest.fixture
def ivr_log() -> Iterator[LogLines]:
    handler = LogLines()
    logger = logging.getLogger("ivr")
    old = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


class LoopThread:
    """An asyncio loop in a thread: ``run(coro)`` waits for a result, ``spawn(coro)`` returns a future."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="reliability-loop", daemon=True)
        self._thread.start()

    def spawn(self, coro: Coroutine[Any, Any, T]):  # noqa: ANN201 - concurrent.futures.Future[T]
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return self.spawn(coro).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


# espeak-ng at a brisk rate: the scenarios wait for prompts in real time, and a cheap voice keeps the package
# within its CI budget (the prompts say the same words).
ESPEAK_WPM = 400


def fast_voice(binary: str = "espeak-ng") -> EspeakSynthesizer:
    return EspeakSynthesizer(binary=binary, speed_wpm=ESPEAK_WPM)


def light_speech(settings: Settings, tmp: Path) -> SpeechEngine:
    """espeak-ng for prompts; Vosk without its model as the recogniser (a real engine that fails at once)."""
    return SpeechEngine(settings, VoskRecognizer(tmp / "no-vosk-model"), FallbackSynthesizer([fast_voice()]))


def fresh_settings(tmp: Path, **overrides: Any) -> Settings:
    url = f"sqlite:///{tmp / 'hotline.db'}"
    upgrade(url)
    s = load_settings(env={}, var_dir=str(tmp / "var"), database_url=url, prompt_cache_dir=str(tmp / "prompts"))
    values = {"audiosocket_port": 0, "agi_port": 0, "staffed_hours": "00:00-24:00", "prerender_answers": 0,
              **overrides}
    return dataclasses.replace(s, **values)


@dataclasses.dataclass
class BackgroundIvr:
    runtime: IvrRuntime
    loop: LoopThread

    @property
    def host(self) -> str:
        return self.runtime.settings.bind_host

    @property
    def audio_port(self) -> int:
        return self.runtime.audiosocket.port

    @property
    def agi_port(self) -> int:
        return self.runtime.agi.port

    @property
    def url(self) -> str:
        return self.runtime.settings.effective_database_url


@pytest.fixture(scope="module")
def background_ivr(tmp_path_factory, qa, espeak_prompts) -> Iterator[BackgroundIvr]:  # noqa: F811
    """One IVR for a whole module, with short protocol timeouts so a fuzzing run stays within its budget."""
    tmp = tmp_path_factory.mktemp("ivr")
    settings = fresh_settings(tmp, prompt_cache_dir=espeak_prompts)
    loop = LoopThread()
    runtime = IvrRuntime(settings, speech=light_speech(settings, tmp), knowledge=qa)
    loop.run(runtime.start(), timeout=120)
    runtime.audiosocket.partial_timeout_s = 0.5
    runtime.agi.env_timeout_s = 0.5
    runtime.agi.reply_timeout_s = 2.0
    try:
        yield BackgroundIvr(runtime, loop)
    finally:
        loop.run(runtime.stop(), timeout=60)
        loop.close()
