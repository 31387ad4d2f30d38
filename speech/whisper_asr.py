"""Whisper base (int8, CPU) recogniser for short 8 kHz telephone utterances.

faster-whisper loads the model; decoding calls its CTranslate2 model directly so the encoder window can be
shorter than Whisper's fixed 30 s. Encoding 30 s costs ~0.7 s on two cores whatever the utterance length;
a 10 s window costs ~0.09 s with a similar error rate once KB hotwords are in the prompt (see speech/README.md).
Utterances with the same window and hints are decoded as one batch.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speech.api import SAMPLE_RATE, ModelUnavailableError, RecognitionError, Transcript
from speech.audio import check_pcm, dbfs, pcm_to_float, resample
from speech.whisper_model import ensure_model

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
FRAMES_PER_S = 100  # log-mel hop of 10 ms
WINDOWS_S = (10, 20, 30)
MAX_POSITIONS = 448  # decoder positions in every Whisper model  # encoder windows; 30 is Whisper's native chunk


@dataclass(frozen=True)
class WhisperOptions:
    """Decoding choices, tuned for latency on 2 CPU cores (see benchmarks/speech_bench.py)."""

    beam_size: int = 1
    cpu_threads: int = 2
    compute_type: str = "int8"
    max_hint_chars: int = 150  # hotwords prompt; longer prompts slow decoding and invite echoing the hints
    max_prompt_tokens: int = 200  # Whisper's decoder holds 448 positions; half is the most a prompt may use
    style_prompt: str = ""  # text that precedes the hints, e.g. a sample sentence in the callers' register
    tokens_per_s: float = 7.0  # Mandarin speech is ~4-5 characters/s; the cap stops runaway repetition
    no_speech_threshold: float = 0.6
    min_dbfs: float = -50.0  # quieter than this is line silence: skip the model entirely


@dataclass(frozen=True)
class _Job:
    audio: np.ndarray  # 16 kHz float
    window_s: int
    prompt_key: str


def window_for(duration_s: float) -> int:
    """Smallest encoder window that holds the utterance plus a little trailing context."""
    for w in WINDOWS_S:
        if duration_s + 0.5 <= w:
            return w
    return WINDOWS_S[-1]


def _clean(text: str, converter: Any) -> str:
    text = converter.convert(text.strip())
    # Hotword prompts make Whisper space-separate words; Chinese does not use spaces.
    text = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text)
    return _collapse_repeats(text)


def _collapse_repeats(text: str, min_len: int = 4) -> str:
    """'结婚登记需要…吗?结婚登记需要…吗?…' (a decoding loop) -> one copy."""
    loop = re.compile(r"(.{" + str(min_len) + r",}?)\1+")
    while m := loop.search(text):
        text = text[: m.start()] + m.group(1) + text[m.end() :]
    return text


class WhisperRecognizer:
    """Implements speech.api.Recognizer. Loads lazily; one instance is shared by all calls."""

    name = "whisper"

    def __init__(self, model_cache_dir: Path, options: WhisperOptions | None = None) -> None:
        self.model_cache_dir = Path(model_cache_dir)
        self.options = options or WhisperOptions()
        self._model: Any = None
        self._tokenizer: Any = None
        self._converter: Any = None
        self._lock = threading.Lock()
        self.load_s = 0.0

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            started = time.perf_counter()
            try:
                import opencc
                from faster_whisper import WhisperModel
                from faster_whisper.tokenizer import Tokenizer
            except ImportError as exc:
                raise ModelUnavailableError(
                    f"Whisper needs {exc.name}: pip install faster-whisper opencc-python-reimplemented"
                ) from None
            model_dir = ensure_model(self.model_cache_dir)
            o = self.options
            model = WhisperModel(str(model_dir), device="cpu", compute_type=o.compute_type, cpu_threads=o.cpu_threads)
            self._tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="zh")
            self._converter = opencc.OpenCC("t2s")
            self._model = model
            self.load_s = time.perf_counter() - started
            log.info("whisper base loaded from %s in %.2f s", model_dir, self.load_s)

    def transcribe(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript:
        return self.transcribe_batch([pcm], hints)[0]

    def transcribe_batch(self, utterances: Sequence[bytes], hints: Sequence[str] = ()) -> list[Transcript]:
        """Recognise several utterances (e.g. from concurrent calls) sharing one hints list."""
        for pcm in utterances:
            check_pcm(pcm)
        self.load()
        started = time.perf_counter()
        prompt = self._prompt(hints)
        results: list[Transcript | None] = [None] * len(utterances)
        groups: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, pcm in enumerate(utterances):
            if not pcm or dbfs(pcm) < self.options.min_dbfs:
                results[i] = Transcript("", 0.0, engine=self.name, timings={"skipped_silence": 1.0})
                continue
            audio = resample(pcm_to_float(pcm), SAMPLE_RATE, WHISPER_RATE)
            groups.setdefault(window_for(len(audio) / WHISPER_RATE), []).append((i, audio))
        for window, members in groups.items():
            texts = self._decode_group(window, [a for _, a in members], prompt)
            elapsed_ms = (time.perf_counter() - started) * 1000
            for (i, _), (text, conf, timings) in zip(members, texts, strict=True):
                results[i] = Transcript(text, conf, latency_ms=elapsed_ms, engine=self.name, timings=timings)
        return [r for r in results if r is not None]

    def _prompt(self, hints: Sequence[str]) -> list[int]:
        tok = self._tokenizer
        prompt: list[int] = []
        words, used = [], 0
        for hint in dict.fromkeys(h.strip() for h in hints if h and h.strip()):
            if used + len(hint) + 1 > self.options.max_hint_chars:
                break
            words.append(hint)
            used += len(hint) + 1
        text = " ".join(([self.options.style_prompt] if self.options.style_prompt else []) + words)
        if text:
            prompt = [tok.sot_prev, *tok.encode(" " + text)[: self.options.max_prompt_tokens]]
        return prompt + [*tok.sot_sequence, tok.no_timestamps]

    def _decode_group(
        self, window_s: int, audios: list[np.ndarray], prompt: list[int]
    ) -> list[tuple[str, float, dict[str, float]]]:
        import ctranslate2

        out: list[tuple[str, float, dict[str, float]]] = []
        # Longer than the widest window (a monologue): decode consecutive 30 s chunks and join them.
        chunk = window_s * WHISPER_RATE
        pieces = [[a[s : s + chunk] for s in range(0, max(len(a), 1), chunk)] for a in audios]
        n_chunks = max(len(p) for p in pieces)
        partial: list[list[tuple[str, float, float]]] = [[] for _ in audios]
        t_feat = t_gen = 0.0
        for c in range(n_chunks):
            idx = [k for k, p in enumerate(pieces) if c < len(p)]
            t0 = time.perf_counter()
            feats = np.stack([self._features(pieces[k][c], window_s) for k in idx])
            t1 = time.perf_counter()
            max_new = max(8, math.ceil(self.options.tokens_per_s * max(len(pieces[k][c]) for k in idx) / WHISPER_RATE))
            try:
                res = self._model.model.generate(
                    ctranslate2.StorageView.from_array(np.ascontiguousarray(feats)),
                    [prompt] * len(idx),
                    beam_size=self.options.beam_size,
                    max_length=min(MAX_POSITIONS, len(prompt) + max_new),
                    return_scores=True,
                    return_no_speech_prob=True,
                    suppress_blank=True,
                    suppress_tokens=[-1],
                )
            except RuntimeError as exc:
                raise RecognitionError(f"Whisper decoding failed: {exc}") from exc
            t_gen += time.perf_counter() - t1
            t_feat += t1 - t0
            for k, r in zip(idx, res, strict=True):
                ids = [t for t in r.sequences_ids[0] if t < self._tokenizer.eot]
                partial[k].append((self._tokenizer.decode(ids), float(r.scores[0]), float(r.no_speech_prob)))
        for parts in partial:
            texts, confs = [], []
            for text, score, no_speech in parts:
                if no_speech > self.options.no_speech_threshold and score < -1.0:
                    continue  # Whisper's "nobody spoke" verdict; its text would be a hallucination
                texts.append(text)
                confs.append(math.exp(min(score, 0.0)) * (1.0 - no_speech))
            text = _clean("".join(texts), self._converter)
            conf = float(np.mean(confs)) if text and confs else 0.0
            timings = {"features_ms": t_feat * 1000, "decode_ms": t_gen * 1000, "window_s": float(window_s)}
            out.append((text, round(conf, 4), timings))
        return out

    def _features(self, audio: np.ndarray, window_s: int) -> np.ndarray:
        # Pad the audio (not the features) with silence so the window looks like Whisper's training padding.
        padded = np.zeros(window_s * WHISPER_RATE, dtype=np.float32)
        padded[: len(audio)] = audio[: len(padded)]
        return self._model.feature_extractor(padded)[:, : window_s * FRAMES_PER_S]
