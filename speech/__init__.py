"""Offline Mandarin speech for 8 kHz telephone audio: recognition, synthesis, endpointing, prompt cache."""

from speech.api import (
    SAMPLE_RATE,
    FRAME_BYTES,
    Recognizer,
    SpeechError,
    Synthesizer,
    Transcript,
)

__all__ = ["FRAME_BYTES", "SAMPLE_RATE", "Recognizer", "SpeechError", "Synthesizer", "Transcript"]
