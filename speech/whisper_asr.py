"""Whisper base (int8, CPU) recogniser for short 8 kHz telephone utterances.

faster-whisper loads the model; decoding calls its CTranslate2 model directly so the encoder window can be
shorter than Whisper's fixed 30 s. Encoding 30 s costs ~0.7 s on two cores whatever the utterance length;
an 8 s window (utterances up to 7.5 s; then 10, 20, 30 s) costs ~0.05 s with a similar error rate
(see speech/README.md). Long hotword lists (the whole KB)
are not stuffed into the prompt: a second pass uses the few that sound like the first pass (speech.hints).
Utterances with the same window and hints are decoded as one batch, second passes too (prompts padded).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speech.api import SAMPLE_RATE, RecognitionError, Transcript
from speech.audio import check_pcm, dbfs, pcm_to_float, resample
from speech.hints import select_hints, sounds_in
from speech.loading import LazyModel, need
from speech.vocab import rest_of, vocabulary_in
from speech.whisper_model import ensure_model

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
FRAMES_PER_S = 100  # log-mel hop of 10 ms
WINDOWS_S = (8, 10, 20, 30)  # encoder windows; 30 is Whisper's native chunk
MAX_POSITIONS = 448  # decoder positions in every Whisper model
INSTALL = "pip install faster-whisper opencc-python-reimplemented"


@dataclass(frozen=True)
class WhisperOptions:
    """Decoding choices, tuned for latency on 2 CPU cores (see benchmarks/speech_bench.py)."""

    beam_size: int = 1
    cpu_threads: int = 2
    compute_type: str = "int8"
    max_hint_chars: int = 60  # hints this short go straight into the prompt; longer lists are selected from
    refine_with_hints: bool = True  # second pass with the hints that sound like the first pass (see speech.hints)
    refine_hints: int = 4  # 200 questions in batches of 10: 8 hints 186 right, 4: 185, a quarter less refining
    max_prompt_tokens: int = 200  # Whisper's decoder holds 448 positions; half is the most a prompt may use
    # Precedes the hints: puts the decoder in the callers' register (and in Simplified Chinese).
    style_prompt: str = "以下是政务服务热线来电的普通话咨询。"
    tokens_per_s: float = 7.0  # Mandarin speech is ~4-5 characters/s; the cap stops runaway repetition
    no_speech_threshold: float = 0.6
    min_dbfs: float = -50.0  # quieter than this is line silence: skip the model entirely
    encode_seconds: int = 20  # audio windows per encoder call (see WhisperRecognizer._encode)


def window_for(duration_s: float) -> int:
    """Smallest encoder window that holds the utterance plus a little trailing context."""
    for w in WINDOWS_S:
        if duration_s + 0.5 <= w:
            return w
    return WINDOWS_S[-1]


def echoes_hints(text: str, hints: Sequence[str]) -> bool:
    """True when the text runs from one hint straight into the next, as listed in the prompt.

    That is Whisper reciting its prompt (a known failure on short or unclear audio), not a caller speaking.
    """
    squeezed = re.sub(r"\s+", "", text)
    words = [h.strip() for h in hints if h and len(h.strip()) >= 2]
    return any(a[-2:] + b[:2] in squeezed for a, b in zip(words, words[1:], strict=False))


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
        self._loader: LazyModel[Any] = LazyModel("whisper base")

    @property
    def loaded(self) -> bool:
        return self._loader.loaded

    @property
    def load_s(self) -> float:
        return self._loader.load_s

    def load(self) -> None:
        self._loader.get(self._build)

    def _build(self) -> Any:
        opencc = need("opencc", "Whisper", INSTALL)
        faster_whisper = need("faster_whisper", "Whisper", INSTALL)
        from faster_whisper.tokenizer import Tokenizer

        model_dir = ensure_model(self.model_cache_dir)
        o = self.options
        model = faster_whisper.WhisperModel(
            str(model_dir), device="cpu", compute_type=o.compute_type, cpu_threads=o.cpu_threads
        )
        self._tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="zh")
        self._converter = opencc.OpenCC("t2s")
        self._model = model
        return model

    def transcribe(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript:
        return self.transcribe_batch([pcm], hints)[0]

    def transcribe_batch(self, utterances: Sequence[bytes], hints: Sequence[str] = ()) -> list[Transcript]:
        """Recognise several utterances (e.g. from concurrent calls) sharing one hints list."""
        for pcm in utterances:
            check_pcm(pcm)
        audios: list[np.ndarray | None] = []
        for pcm in utterances:
            quiet = not pcm or dbfs(pcm) < self.options.min_dbfs  # line silence never reaches the model
            audios.append(None if quiet else resample(pcm_to_float(pcm), SAMPLE_RATE, WHISPER_RATE))
        return self.transcribe_16k(audios, hints)

    def transcribe_16k(self, audios: Sequence[np.ndarray | None], hints: Sequence[str] = ()) -> list[Transcript]:
        """The same for 16 kHz float audio (wideband recordings, the speech evaluation); None = silence."""
        self.load()
        started = time.perf_counter()
        results: list[Transcript | None] = [None] * len(audios)
        groups: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, audio in enumerate(audios):
            if audio is None or not len(audio):
                results[i] = Transcript("", 0.0, engine=self.name, timings={"skipped_silence": 1.0})
                continue
            groups.setdefault(window_for(len(audio) / WHISPER_RATE), []).append((i, audio))
        for window, members in groups.items():
            decoded = self._decode_group(window, [a for _, a in members], hints)
            elapsed_ms = (time.perf_counter() - started) * 1000
            for (i, _), (text, conf, timings) in zip(members, decoded, strict=True):
                results[i] = Transcript(text, conf, latency_ms=elapsed_ms, engine=self.name, timings=timings)
        return [r for r in results if r is not None]

    def _prompt(self, hints: Sequence[str]) -> list[int]:
        tok = self._tokenizer
        words = list(dict.fromkeys(h.strip() for h in hints if h and h.strip()))
        text = " ".join(([self.options.style_prompt] if self.options.style_prompt else []) + words)
        prompt = [tok.sot_prev, *tok.encode(" " + text)[: self.options.max_prompt_tokens]] if text else []
        return prompt + [*tok.sot_sequence, tok.no_timestamps]

    def _same_length(self, prompts: list[list[int]]) -> list[list[int]]:
        """CTranslate2 decodes prompts as one batch only when <|startoftranscript|> sits at the same position in
        each: left-pad the shorter previous-text parts with the style prompt's tokens (as if an earlier segment
        had said it). On 200 questions in batches of 10 this matched per-length batches (185 vs 184 items right)
        at ~1/3 less decoding time; padding with spaces made Whisper emit spaces, with commas cost accuracy."""
        tok = self._tokenizer
        if len({len(p) for p in prompts}) == 1:
            return prompts
        with_prev = [p if p[:1] == [tok.sot_prev] else [tok.sot_prev, *p] for p in prompts]
        filler = tok.encode(" " + (self.options.style_prompt or "、"))
        longest = max(len(p) for p in with_prev)
        out = []
        for p in with_prev:
            need = longest - len(p)
            repeats = filler * (need // len(filler) + 1)
            out.append(p[:1] + repeats[len(repeats) - need :] + p[1:])
        return out

    def _fits(self, hints: Sequence[str]) -> bool:
        return sum(len(h) + 1 for h in hints) <= self.options.max_hint_chars

    def _generate(self, encoded: Any, prompts: list[list[int]], max_new: int) -> list[tuple[str, float, float]]:
        try:
            res = self._model.model.generate(
                encoded,
                prompts,
                beam_size=self.options.beam_size,
                max_length=min(MAX_POSITIONS, max(len(p) for p in prompts) + max_new),
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=[-1],
            )
        except RuntimeError as exc:
            raise RecognitionError(f"Whisper decoding failed: {exc}") from exc
        out = []
        for r in res:
            ids = [t for t in r.sequences_ids[0] if t < self._tokenizer.eot]
            out.append((self._tokenizer.decode(ids), float(r.scores[0]), float(r.no_speech_prob)))
        return out

    def _decode_chunk(
        self, window_s: int, audios: list[np.ndarray], hints: Sequence[str], timings: dict[str, float]
    ) -> list[tuple[str, float, float]]:

        t0 = time.perf_counter()
        feats = np.stack([self._features(a, window_s) for a in audios])
        encoded = self._encode(feats, window_s)
        t1 = time.perf_counter()
        max_new = max(8, math.ceil(self.options.tokens_per_s * max(len(a) for a in audios) / WHISPER_RATE))
        vocab = vocabulary_in(hints)  # a dialog state's expected replies lead the hints (speech.vocab)
        lead = vocab.phrases if vocab else ()
        terms = rest_of(hints, vocab)
        if self._fits(hints):  # few hints (a closed question, a test): one pass with all of them
            first = self._generate(encoded, [self._prompt(hints)] * len(audios), max_new)
            refined = False
            self._unecho(encoded, first, hints, max_new)
        else:
            first = self._generate(encoded, [self._prompt(lead)] * len(audios), max_new)
            if lead:
                self._unecho(encoded, first, lead, max_new)
            refined = self.options.refine_with_hints and bool(terms)
        t2 = time.perf_counter()
        if refined:
            # Second pass, reusing the encoder output, with the hints that sound like pass one; one batched
            # decode for every utterance that needs it (concurrent calls share the cost).
            again: list[tuple[int, list[str]]] = []
            for k, (text, _, _) in enumerate(first):
                heard = self._converter.convert(text)
                if vocab is not None and vocab.covers(heard):
                    continue  # the reply the state expects: the KB's terms have nothing to add
                chosen = select_hints(heard, terms, self.options.refine_hints)
                # Nothing to fix when a hint was heard verbatim, or the best one was heard by sound (a homophone:
                # retrieval matches sound keys). With the whole KB as hints this skips most second passes.
                if chosen and not any(h in heard for h in chosen) and not sounds_in(chosen[0], heard):
                    again.append((k, chosen))
            if again:
                prompts = self._same_length([self._prompt([*lead, *chosen]) for _, chosen in again])
                seconds = self._generate(self._rows(encoded, [k for k, _ in again]), prompts, max_new)
                for (k, chosen), second in zip(again, seconds, strict=True):
                    if not echoes_hints(second[0], chosen):
                        first[k] = second
        t3 = time.perf_counter()
        timings["encode_ms"] = timings.get("encode_ms", 0.0) + (t1 - t0) * 1000
        timings["decode_ms"] = timings.get("decode_ms", 0.0) + (t2 - t1) * 1000
        if refined:
            timings["refine_ms"] = timings.get("refine_ms", 0.0) + (t3 - t2) * 1000
        return first

    def _unecho(self, encoded: Any, results: list[tuple[str, float, float]], hints: Sequence[str],
                max_new: int) -> None:
        """The decoder recited the prompt instead of listening: decode those rows again without hints."""
        echoed = [k for k, (text, _, _) in enumerate(results) if echoes_hints(text, hints)]
        if echoed:
            again = self._generate(self._rows(encoded, echoed), [self._prompt(())] * len(echoed), max_new)
            for k, result in zip(echoed, again, strict=True):
                results[k] = result

    def _decode_group(
        self, window_s: int, audios: list[np.ndarray], hints: Sequence[str]
    ) -> list[tuple[str, float, dict[str, float]]]:
        # Longer than the widest window (a monologue): decode consecutive chunks and join them.
        chunk = window_s * WHISPER_RATE
        pieces = [[a[s : s + chunk] for s in range(0, max(len(a), 1), chunk)] for a in audios]
        partial: list[list[tuple[str, float, float]]] = [[] for _ in audios]
        timings: dict[str, float] = {"window_s": float(window_s)}
        for c in range(max(len(p) for p in pieces)):
            idx = [k for k, p in enumerate(pieces) if c < len(p)]
            decoded = self._decode_chunk(window_s, [pieces[k][c] for k in idx], hints, timings)
            for k, result in zip(idx, decoded, strict=True):
                partial[k].append(result)
        out: list[tuple[str, float, dict[str, float]]] = []
        vocab = vocabulary_in(hints)
        for parts in partial:
            texts, confs = [], []
            for text, score, no_speech in parts:
                if no_speech > self.options.no_speech_threshold and score < -1.0:
                    continue  # Whisper's "nobody spoke" verdict; its text would be a hallucination
                texts.append(text)
                confs.append(math.exp(min(score, 0.0)) * (1.0 - no_speech))
            text = _clean("".join(texts), self._converter)
            text = vocab.snap(text) if vocab else text
            conf = float(np.mean(confs)) if text and confs else 0.0
            out.append((text, round(conf, 4), dict(timings)))
        return out

    def _encode(self, feats: np.ndarray, window_s: int) -> Any:
        """Encoder output for a batch of feature windows, encoded a few at a time: past ~20 s of windows per
        call CTranslate2's encoder gets slower per utterance on two cores (ten 10 s windows: 1.0 s together,
        0.65 s in pairs), while decoding keeps gaining from one big batch."""
        import ctranslate2

        encode = self._model.model.encode
        step = max(1, self.options.encode_seconds // window_s)
        if len(feats) <= step:
            return encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats)))
        parts = [np.asarray(encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[i : i + step]))))
                 for i in range(0, len(feats), step)]
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate(parts)))

    @staticmethod
    def _rows(encoded: Any, rows: list[int]) -> Any:
        """Some utterances' encoder output, to decode them again without encoding again."""
        import ctranslate2

        if len(rows) == encoded.shape[0]:
            return encoded
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[rows]))

    def _features(self, audio: np.ndarray, window_s: int) -> np.ndarray:
        # Pad the audio (not the features) with silence so the window looks like Whisper's training padding.
        padded = np.zeros(window_s * WHISPER_RATE, dtype=np.float32)
        padded[: len(audio)] = audio[: len(padded)]
        return self._model.feature_extractor(padded)[:, : window_s * FRAMES_PER_S]
