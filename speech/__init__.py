"""Offline Mandarin speech for 8 kHz telephone audio: recognition, synthesis, endpointing, prompt cache."""

from speech.api import (
    FRAME_BYTES,
    SAMPLE_RATE,
    AudioFormatError,
    ModelUnavailableError,
    RecognitionError,
    Recognizer,
    SpeechError,
    SynthesisError,
    Synthesizer,
    Transcript,
)

__all__ = [
    "FRAME_BYTES",
    "SAMPLE_RATE",
    "AudioFormatError",
    "ModelUnavailableError",
    "RecognitionError",
    "Recognizer",
    "SpeechError",
    "SynthesisError",
    "Synthesizer",
    "Transcript",
]
