"""sherpa-onnx recogniser for a model a centre installs itself: Paraformer, SenseVoice or Zipformer (transducer).

No weights ship with the hotline (PyPI carries none); the centre downloads a sherpa-onnx model archive, unpacks
it, sets ``sherpa_model_dir`` (``HOTLINE_SHERPA_MODEL_DIR``) and ``asr_engine = "sherpa"``. What kind of model
it is follows from the files (`find_model`):

- ``encoder*.onnx`` + ``decoder*.onnx`` + ``joiner*.onnx`` + ``tokens.txt``: a (Zipformer) transducer;
- ``model.onnx`` or ``model.int8.onnx`` + ``tokens.txt``: Paraformer, or SenseVoice when the directory's name
  says so (``sherpa-onnx-sense-voice-...``, as the archives are named).

The int8 file is preferred when both exist. Audio goes in at 8 kHz (sherpa-onnx resamples to the model's
16 kHz). The output is normalised like Whisper's (Traditional -> Simplified, no spaces between Chinese
characters) and a dialog state's vocabulary snaps sound-alike short replies (speech.vocab); KB hints are not used
(contextual biasing needs a hotword-capable model, which the centre can add later).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speech.api import SAMPLE_RATE, ModelUnavailableError, RecognitionError, Transcript
from speech.audio import check_pcm, dbfs, pcm_to_float
from speech.loading import LazyModel, need
from speech.vocab import vocabulary_in

log = logging.getLogger(__name__)

INSTALL = "pip install sherpa-onnx"
HOW_TO_ADD = (
    "download a sherpa-onnx model archive (e.g. sherpa-onnx-paraformer-zh-2023-09-14 or "
    "sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17 from the sherpa-onnx releases), unpack it and set "
    "sherpa_model_dir (HOTLINE_SHERPA_MODEL_DIR) to the directory holding tokens.txt and the .onnx files"
)
KINDS = ("paraformer", "sense_voice", "transducer")
# Without per-token scores (Paraformer, SenseVoice) a non-empty result gets this confidence: above the flow's
# rejection threshold, inside its confirmation band only if FlowOptions.confirm_below is raised above it.
DEFAULT_CONFIDENCE = 0.8


@dataclass(frozen=True)
class SherpaModel:
    kind: str  # one of KINDS
    directory: Path
    files: dict[str, Path]  # role (model / encoder / decoder / joiner / tokens) -> file


def _pick(directory: Path, stem: str) -> Path | None:
    """``stem.int8.onnx`` before ``stem.onnx`` before ``stem-anything.onnx`` (int8 first)."""
    for name in (f"{stem}.int8.onnx", f"{stem}.onnx"):
        if (directory / name).is_file():
            return directory / name
    found = sorted(directory.glob(f"{stem}*.onnx"), key=lambda p: (".int8." not in p.name, p.name))
    return found[0] if found else None


def _check_tokens(path: Path) -> None:
    """sherpa-onnx exits the whole process on a malformed tokens.txt (it calls exit(), it does not raise):
    check the "<symbol> <id>" lines here, so a broken model directory is an error message, not a dead IVR."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelUnavailableError(f"{path} is not readable as a token list: {exc}") from exc
    entries = [line.rsplit(maxsplit=1) for line in lines if line.strip()]
    bad = next((n for n, e in enumerate(entries, 1) if not e or not e[-1].lstrip("-").isdigit()), None)
    if not entries or bad is not None:
        where = f"line {bad}" if bad else "it is empty"
        raise ModelUnavailableError(f"{path} is not a sherpa-onnx token list ({where}; expected '<symbol> <id>' "
                                    f"lines): {HOW_TO_ADD}")


def find_model(model_dir: str | Path) -> SherpaModel:
    """The model in ``model_dir``, or ModelUnavailableError saying what is missing and how to add it."""
    if not str(model_dir or "").strip():
        raise ModelUnavailableError(f"sherpa_model_dir is not set: {HOW_TO_ADD}")
    directory = Path(model_dir)
    if not directory.is_dir():
        raise ModelUnavailableError(f"sherpa model directory {directory} does not exist: {HOW_TO_ADD}")
    tokens = directory / "tokens.txt"
    parts = {role: _pick(directory, role) for role in ("encoder", "decoder", "joiner")}
    model = _pick(directory, "model")
    if any(parts.values()) and not all(parts.values()):
        missing = ", ".join(f"{role}*.onnx" for role, p in parts.items() if p is None)
        raise ModelUnavailableError(
            f"{directory} is an incomplete transducer model (no {missing}; streaming models are not supported): "
            f"{HOW_TO_ADD}")
    if all(parts.values()):
        kind, files = "transducer", {role: p for role, p in parts.items() if p is not None}
    elif model is not None:
        kind = "sense_voice" if re.search(r"sense[-_]?voice", directory.name, re.I) else "paraformer"
        files = {"model": model}
    else:
        raise ModelUnavailableError(
            f"{directory} holds no sherpa-onnx model (model.onnx / model.int8.onnx for Paraformer or SenseVoice, "
            f"or encoder/decoder/joiner*.onnx for a Zipformer transducer): {HOW_TO_ADD}")
    if not tokens.is_file():
        raise ModelUnavailableError(f"{directory} is incomplete: tokens.txt is missing: {HOW_TO_ADD}")
    _check_tokens(tokens)
    files["tokens"] = tokens
    return SherpaModel(kind, directory, files)


class SherpaRecognizer:
    """Implements speech.api.Recognizer with sherpa-onnx's offline recogniser. Loads lazily; shared by calls."""

    name = "sherpa"

    def __init__(self, model_dir: str | Path, num_threads: int = 2) -> None:
        self.model_dir = model_dir
        self.num_threads = num_threads
        self.model: SherpaModel | None = None
        self._converter: Any = None
        self._loader: LazyModel[Any] = LazyModel("sherpa-onnx model")

    @property
    def loaded(self) -> bool:
        return self._loader.loaded

    @property
    def load_s(self) -> float:
        return self._loader.load_s

    def load(self) -> None:
        self._loader.get(self._build)

    def _build(self) -> Any:
        model = find_model(self.model_dir)
        sherpa_onnx = need("sherpa_onnx", "the sherpa backend", INSTALL)
        opencc = need("opencc", "the sherpa backend", "pip install opencc-python-reimplemented")
        files = {role: str(p) for role, p in model.files.items()}
        common = {"tokens": files["tokens"], "num_threads": self.num_threads}
        make = sherpa_onnx.OfflineRecognizer
        try:
            if model.kind == "transducer":
                recognizer = make.from_transducer(files["encoder"], files["decoder"], files["joiner"], **common)
            elif model.kind == "sense_voice":
                recognizer = make.from_sense_voice(files["model"], language="zh", use_itn=True, **common)
            else:
                recognizer = make.from_paraformer(files["model"], **common)
        except Exception as exc:  # sherpa-onnx raises RuntimeError for an unreadable or mismatched model
            raise ModelUnavailableError(
                f"sherpa-onnx could not load the {model.kind} model in {model.directory}: {exc}") from exc
        self._converter = opencc.OpenCC("t2s")
        self.model = model
        return recognizer

    def transcribe(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript:
        return self.transcribe_batch([pcm], hints)[0]

    def transcribe_batch(self, utterances: Sequence[bytes], hints: Sequence[str] = ()) -> list[Transcript]:
        for pcm in utterances:
            check_pcm(pcm)
        self.load()
        recognizer = self._loader.value
        started = time.perf_counter()
        vocab = vocabulary_in(hints)
        live = [i for i, pcm in enumerate(utterances) if pcm and dbfs(pcm) >= -50.0]
        streams = []
        for i in live:
            stream = recognizer.create_stream()
            stream.accept_waveform(SAMPLE_RATE, pcm_to_float(utterances[i]))
            streams.append(stream)
        try:
            if streams:
                recognizer.decode_streams(streams)
        except Exception as exc:
            raise RecognitionError(f"sherpa-onnx failed: {exc}") from exc
        elapsed = (time.perf_counter() - started) * 1000
        out = [Transcript("", 0.0, latency_ms=elapsed, engine=self.name) for _ in utterances]
        for i, stream in zip(live, streams, strict=True):
            text = self._clean(stream.result.text)
            text = vocab.snap(text) if vocab else text
            out[i] = Transcript(text, self._confidence(stream.result, text), latency_ms=elapsed, engine=self.name)
        return out

    def _clean(self, text: str) -> str:
        text = self._converter.convert(text.strip())
        return re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text)

    @staticmethod
    def _confidence(result: Any, text: str) -> float:
        if not text:
            return 0.0
        log_probs = getattr(result, "ys_log_probs", None)
        if log_probs is not None and len(log_probs):
            return round(float(np.exp(np.mean(log_probs))), 4)
        return DEFAULT_CONFIDENCE
