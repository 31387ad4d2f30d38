"""Vosk (Kaldi) recogniser from a configured model directory, with phrase grammars for closed questions.

Only ever `vosk.Model(model_path=...)`: the `lang=` constructor downloads models at run time, which an
offline hotline must never do. With a grammar ("是 / 不是", digits) Vosk picks the best phrase from the list,
which is far more robust on a noisy line than open transcription.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from speech.api import SAMPLE_RATE, ModelUnavailableError, RecognitionError, Transcript
from speech.audio import check_pcm
from speech.loading import LazyModel, need

log = logging.getLogger(__name__)

UNKNOWN = "[unk]"
YES_NO_ZH = ("是", "是的", "对", "对的", "好的", "可以", "不是", "不对", "不用", "不要", "没有")
DIGITS_ZH = ("零", "一", "幺", "二", "两", "三", "四", "五", "六", "七", "八", "九")
HOW_TO_ADD = (
    "download a Vosk model (e.g. vosk-model-small-cn-0.22 from alphacephei.com/vosk/models), unpack it and set "
    "vosk_model_dir (HOTLINE_VOSK_MODEL_DIR) to the directory that holds am/ and conf/"
)


def check_model_dir(model_dir: str | Path) -> Path:
    path = Path(model_dir) if model_dir else None
    if path is None or not str(model_dir).strip():
        raise ModelUnavailableError(f"vosk_model_dir is not set: {HOW_TO_ADD}")
    if not (path / "am").is_dir() or not (path / "conf").is_dir():
        raise ModelUnavailableError(f"{path} is not a Vosk model directory (no am/ and conf/): {HOW_TO_ADD}")
    return path


class VoskRecognizer:
    """Implements speech.api.Recognizer. ``hints`` given to transcribe() become a closed phrase grammar
    when ``hints_as_grammar`` is true (default); otherwise recognition is open."""

    name = "vosk"

    def __init__(self, model_dir: str | Path, hints_as_grammar: bool = True) -> None:
        self.model_dir = model_dir
        self.hints_as_grammar = hints_as_grammar
        self._model: Any = None
        self._loader: LazyModel[Any] = LazyModel("vosk model")

    @property
    def loaded(self) -> bool:
        return self._loader.loaded

    @property
    def load_s(self) -> float:
        return self._loader.load_s

    def load(self) -> None:
        self._loader.get(self._build)

    def _build(self) -> Any:
        path = check_model_dir(self.model_dir)
        vosk = need("vosk", "Vosk", "pip install vosk")
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(model_path=str(path))
        except Exception as exc:
            raise ModelUnavailableError(f"Vosk could not load {path}: {exc}") from exc
        return self._model

    def _in_vocabulary(self, hints: Sequence[str]) -> list[str]:
        """Grammar phrases whose every word the model knows (Vosk would drop the others with a warning)."""
        phrases = []
        for phrase in dict.fromkeys(h.strip() for h in hints if h and h.strip()):
            if all(self._model.vosk_model_find_word(word) >= 0 for word in phrase.split()):
                phrases.append(phrase)
            else:
                log.debug("vosk grammar: %r is not in the model vocabulary, skipped", phrase)
        if phrases and self._model.vosk_model_find_word(UNKNOWN) >= 0:
            phrases.append(UNKNOWN)  # lets "none of these" win instead of forcing the nearest phrase
        return phrases

    def transcribe(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript:
        check_pcm(pcm)
        self.load()
        import vosk

        started = time.perf_counter()
        phrases = self._in_vocabulary(hints) if self.hints_as_grammar else []
        if phrases:
            rec = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, json.dumps(phrases, ensure_ascii=False))
        else:
            rec = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        rec.SetWords(True)
        try:
            for start in range(0, len(pcm), 8000):  # 0.5 s chunks, as a live line would deliver them
                rec.AcceptWaveform(pcm[start : start + 8000])
            result = json.loads(rec.FinalResult())
        except Exception as exc:
            raise RecognitionError(f"Vosk failed: {exc}") from exc
        words = [w for w in result.get("result", []) if w.get("word") != UNKNOWN]
        text = "".join(w["word"] for w in words) if phrases else result.get("text", "")
        text = text.replace(UNKNOWN, "").strip()
        confidence = sum(w.get("conf", 0.0) for w in words) / len(words) if words and text else 0.0
        elapsed = (time.perf_counter() - started) * 1000
        return Transcript(text, round(confidence, 4), latency_ms=elapsed, engine=self.name)
