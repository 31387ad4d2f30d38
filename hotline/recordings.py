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
