"""Serving recorded audio from the panel: the call recording, caller utterances, voicemails, labelling clips.

Only files inside settings.recording_dir are ever served (hotline.recordings.resolve_audio), with range requests
so the browser's player can seek; anything else is a 404.
"""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, send_file
from werkzeug.wrappers import Response

from admin.services.recordings import resolve_audio


def recording_dir() -> Path:
    return current_app.extensions["hotline_settings"].recording_dir


def playable(stored: str | None) -> bool:
    """Is there a servable file for this stored path (absolute, or relative to recording_dir)?"""
    return resolve_audio(recording_dir(), stored) is not None


def send_audio(path: Path | None) -> Response:
    """The file already resolved inside recording_dir, or 404."""
    if path is None:
        abort(404)
    return send_file(path, mimetype="audio/wav" if path.suffix.lower() == ".wav" else None, conditional=True)


def send_stored(stored: str | None) -> Response:
    """The file a stored path names, or 404 when it is not a regular file inside recording_dir."""
    return send_audio(resolve_audio(recording_dir(), stored))
