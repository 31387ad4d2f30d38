"""Speech lines for `hotline doctor` (cheap: nothing is loaded)."""

from __future__ import annotations

from hotline.checks import Check
from hotline.config import Settings
from speech.engine import speech_status


def doctor_checks(settings: Settings) -> list[Check]:
    out = []
    for row in speech_status(settings):
        # The selected recogniser and the primary voice are required; fallbacks only warn.
        required = row.engine in (settings.asr_engine, settings.tts_engine, "prompt-cache")
        status = "ok" if row.ready else ("missing" if required else "warn")
        out.append(Check(f"speech {row.engine}", status, row.detail, "" if row.ready else row.fix))
    return out
