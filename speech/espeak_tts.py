"""espeak-ng Mandarin through numbered pinyin: robotic but tiny, fast and always available (the fallback voice).

pypinyin turns characters into `zhong1 wen2`; `espeak-ng -v cmn-latn-pinyin` reads that at 22.05 kHz.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

from pypinyin import Style, lazy_pinyin

from speech.api import SAMPLE_RATE, ModelUnavailableError, SynthesisError
from speech.audio import float_to_pcm, pcm_to_float, resample, silence
from speech.textnorm import split_sentences, to_spoken

ESPEAK_RATE = 22050
PAUSE_MS = 120
PEAK = 0.9
INSTALL_HINT = "apt-get install espeak-ng"


def to_pinyin(sentence: str) -> str:
    """'市民卡补办。' -> 'shi4 min2 ka3 bu3 ban4 .' (punctuation kept as pauses)."""
    out = []
    for token in lazy_pinyin(sentence, style=Style.TONE3, neutral_tone_with_five=True, errors="default"):
        token = token.strip()
        if not token:
            continue
        if all(ch in "，。！？；、：,.!?;:" for ch in token):
            out.append(",")
        else:
            out.append(token)
    return " ".join(out)


def _wav_payload(wav: bytes) -> bytes:
    # espeak-ng streams a WAV whose size fields are placeholders: take everything after the "data" tag.
    at = wav.find(b"data")
    if not wav.startswith(b"RIFF") or at < 0:
        raise SynthesisError("espeak-ng produced no WAV audio")
    payload = wav[at + 8 :]
    return payload[: len(payload) - len(payload) % 2]


class EspeakSynthesizer:
    """Implements speech.api.Synthesizer with espeak-ng's pinyin voice."""

    name = "espeak"
    voice = "cmn-latn-pinyin"

    def __init__(self, binary: str = "espeak-ng", speed_wpm: int = 150, timeout_s: float = 10.0) -> None:
        self.binary = binary
        self.speed_wpm = speed_wpm
        self.timeout_s = timeout_s

    def check(self) -> str:
        path = shutil.which(self.binary)
        if path is None:
            raise ModelUnavailableError(f"{self.binary} is not installed: {INSTALL_HINT}")
        return path

    def render_sentence(self, sentence: str) -> bytes:
        binary = self.check()
        pinyin = to_pinyin(sentence)
        if not pinyin.strip(" ,"):
            return b""
        try:
            proc = subprocess.run(
                [binary, "-v", self.voice, "-s", str(self.speed_wpm), "--stdout", pinyin],
                capture_output=True,
                timeout=self.timeout_s,
                check=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise SynthesisError(f"espeak-ng failed on {sentence!r}: {exc}") from exc
        audio = pcm_to_float(_wav_payload(proc.stdout))
        peak = float(abs(audio).max()) if audio.size else 0.0
        if peak > 0:
            audio = audio * (PEAK / peak)  # same loudness as the primary voice, so a fallback is not quieter
        return float_to_pcm(resample(audio, ESPEAK_RATE, SAMPLE_RATE)) + silence(PAUSE_MS)

    def synthesize(self, text: str) -> Iterator[bytes]:
        for sentence in split_sentences(to_spoken(text)):
            pcm = self.render_sentence(sentence)
            if pcm:
                yield pcm
