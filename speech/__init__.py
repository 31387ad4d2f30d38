"""Offline Mandarin speech for 8 kHz telephone audio: recogniser and synthesiser interfaces and their backends,
VAD endpointing, text normalisation for speaking, recogniser hints, the prompt cache, the engine facade.

May import: hotline (settings, errors). Knows nothing of calls or the knowledge base (hints arrive as words).
"""

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
