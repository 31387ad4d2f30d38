"""Audio files the panel may serve: only regular files inside settings.recording_dir (no path traversal)."""

from __future__ import annotations

from hotline.recordings import resolve_audio

__all__ = ["resolve_audio"]
