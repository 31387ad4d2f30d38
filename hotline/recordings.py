"""Recorded audio the hotline may read back: only regular files inside settings.recording_dir (no path traversal)."""

from __future__ import annotations

from pathlib import Path


def resolve_audio(recording_dir: Path, stored: str | None) -> Path | None:
    """The real file for a stored path (absolute, or relative to recording_dir), or None if not servable.

    Symlinks and ``..`` are resolved first, so a path that points outside the directory is refused.
    """
    if not stored:
        return None
    root = recording_dir.resolve()
    candidate = Path(stored)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def save_utterance(recording_dir: Path, call_uuid: str, index: int, pcm: bytes, rate: int = 8000) -> str:
    """Write one caller utterance (slin) as a WAV under ``utterances/YYYY-MM-DD/``; returns the path relative to
    recording_dir, for CallTurn.audio_path (what the labelling view plays). The call id is reduced to safe
    characters, so a path can never leave the directory."""
    import io
    import re
    import wave
    from datetime import UTC, datetime

    safe = re.sub(r"[^0-9A-Za-z-]", "", call_uuid)[:36] or "call"
    rel = Path("utterances") / datetime.now(UTC).strftime("%Y-%m-%d") / f"{safe}-{index:03d}.wav"
    target = recording_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(target)
    return str(rel)
