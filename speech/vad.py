"""Endpointing as a pure object over 20 ms frames: bytes in, events out, no sockets or clocks inside.

A frame counts as speech when webrtcvad says so AND its energy clears an adaptive noise floor. While we are
playing a prompt (`playing=True`) a barge-in needs more consecutive speech frames and energy well above the
floor, which has risen to our own echo level, so the prompt's echo does not interrupt itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import webrtcvad

from speech.api import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, AudioFormatError
from speech.audio import dbfs


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started talking; ``barge_in`` when it happened over our prompt (stop playback)."""

    offset_ms: int
    barge_in: bool = False


@dataclass(frozen=True)
class SpeechEnded:
    """An utterance, pre-roll included. ``reason``: "silence" (normal end), "max_length" (cut at
    max_utterance_s) or "too_short" (a click or cough: do not recognise it)."""

    pcm: bytes
    reason: str

    @property
    def duration_ms(self) -> int:
        return len(self.pcm) // 2 * 1000 // SAMPLE_RATE


@dataclass(frozen=True)
class SpeechPaused:
    """The caller has been quiet for ``early_ms``: probably the end, not yet decided. ``pcm`` is exactly what
    SpeechEnded will carry if the silence lasts, so recognition can start now and be kept (speculative
    end-of-turn); if the caller goes on, a later pause or end brings different audio."""

    pcm: bytes


Event = SpeechStarted | SpeechPaused | SpeechEnded


@dataclass(frozen=True)
class EndpointerOptions:
    aggressiveness: int = 2  # webrtcvad 0..3
    start_ms: int = 60  # consecutive speech needed to open an utterance
    barge_in_ms: int = 200  # ... while we are playing
    barge_in_margin_db: float = 12.0  # above the (echo-raised) noise floor while playing
    gate_margin_db: float = 6.0  # above the noise floor otherwise
    min_dbfs: float = -50.0  # absolute energy gate: line hiss never counts
    preroll_ms: int = 300
    keep_trailing_ms: int = 200  # silence kept after the last word


class Endpointer:
    """Feed 320-byte frames; get SpeechStarted / SpeechEnded events. One instance per call."""

    def __init__(
        self,
        end_silence_ms: int = 600,
        min_speech_ms: int = 200,
        max_utterance_s: float = 15.0,
        options: EndpointerOptions | None = None,
        early_ms: int = 0,
    ) -> None:
        self.end_silence_ms = end_silence_ms
        self.options = options or EndpointerOptions()
        # SpeechPaused after this much silence (0: never). At least keep_trailing_ms, so its audio is final.
        if early_ms and not self.options.keep_trailing_ms <= early_ms < end_silence_ms:
            raise ValueError(f"early_ms must be 0 or {self.options.keep_trailing_ms}..{end_silence_ms - 1}")
        self.early_ms = early_ms
        self.min_speech_ms = min_speech_ms
        self.max_utterance_s = max_utterance_s
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self.playing = False
        self.noise_floor_db: float | None = None
        self._offset_ms = 0
        self.reset()

    def reset(self) -> None:
        """Forget any partial utterance (e.g. after the flow handled one); the noise floor is kept."""
        self._preroll: deque[bytes] = deque(maxlen=max(1, self.options.preroll_ms // FRAME_MS))
        self._utterance: list[bytes] | None = None
        self._run = 0  # consecutive speech frames
        self._voiced = 0  # speech frames in the current utterance
        self._trailing = 0  # consecutive non-speech frames in the current utterance

    @property
    def in_speech(self) -> bool:
        return self._utterance is not None

    def _update_floor(self, level: float) -> None:
        if self.noise_floor_db is None:
            self.noise_floor_db = min(level, -35.0)
        elif level < self.noise_floor_db:
            self.noise_floor_db += 0.2 * (level - self.noise_floor_db)  # falls fast
        else:
            # Rises over ~1 s with steady noise; over ~0.2 s while we play, so it follows our own echo.
            rise = 0.1 if self.playing else 0.02
            self.noise_floor_db += rise * (level - self.noise_floor_db)

    def _is_speech(self, frame: bytes, level: float) -> bool:
        floor = self.noise_floor_db if self.noise_floor_db is not None else -60.0
        margin = self.options.barge_in_margin_db if self.playing else self.options.gate_margin_db
        if level < max(self.options.min_dbfs, floor + margin):
            return False
        return self._vad.is_speech(frame, SAMPLE_RATE)

    def feed(self, frame: bytes) -> list[Event]:
        if len(frame) != FRAME_BYTES:
            raise AudioFormatError(f"Endpointer takes {FRAME_BYTES}-byte frames (20 ms at 8 kHz), got {len(frame)}")
        level = dbfs(frame)
        speech = self._is_speech(frame, level)
        self._offset_ms += FRAME_MS
        if self._utterance is None:
            self._update_floor(level)
            return self._idle(frame, speech)
        return self._speaking(frame, speech)

    def _idle(self, frame: bytes, speech: bool) -> list[Event]:
        self._preroll.append(frame)
        self._run = self._run + 1 if speech else 0
        needed = (self.options.barge_in_ms if self.playing else self.options.start_ms) // FRAME_MS
        if self._run < max(1, needed):
            return []
        self._utterance = list(self._preroll)
        self._voiced, self._trailing = self._run, 0
        self._preroll.clear()
        return [SpeechStarted(offset_ms=self._offset_ms - self._run * FRAME_MS, barge_in=self.playing)]

    def _speaking(self, frame: bytes, speech: bool) -> list[Event]:
        assert self._utterance is not None
        self._utterance.append(frame)
        if speech:
            self._voiced += 1
            self._trailing = 0
        else:
            self._trailing += 1
        keep = len(self._utterance) - self._trailing + self.options.keep_trailing_ms // FRAME_MS
        if self._trailing * FRAME_MS >= self.end_silence_ms:
            reason = "silence" if self._voiced * FRAME_MS >= self.min_speech_ms else "too_short"
            return [self._finish(self._utterance[:keep], reason)]
        if (self.early_ms and self._trailing == self.early_ms // FRAME_MS
                and self._voiced * FRAME_MS >= self.min_speech_ms):
            return [SpeechPaused(b"".join(self._utterance[:keep]))]
        if len(self._utterance) * FRAME_MS >= self.max_utterance_s * 1000:
            return [self._finish(self._utterance, "max_length")]
        return []

    def _finish(self, frames: list[bytes], reason: str) -> SpeechEnded:
        pcm = b"".join(frames)
        self.reset()
        return SpeechEnded(pcm=pcm, reason=reason)
