"""Recorded audio: served only from inside recording_dir; caller utterances saved where the labelling view looks."""

from __future__ import annotations

import wave

from hotline.recordings import resolve_audio, save_utterance


def test_a_saved_utterance_is_a_wav_inside_the_recordings(tmp_path):
    rel = save_utterance(tmp_path, "1f0e-../../etc", 3, b"\x01\x00" * 800)
    path = resolve_audio(tmp_path, rel)
    assert path is not None and path.parent.parent.name == "utterances" and path.name.endswith("-003.wav")
    assert ".." not in rel and "/etc" not in rel
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (8000, 1, 800)


def test_paths_leaving_the_recordings_are_refused(tmp_path):
    (tmp_path / "rec").mkdir()
    (tmp_path / "secret").write_text("x")
    assert resolve_audio(tmp_path / "rec", "../secret") is None
    assert resolve_audio(tmp_path / "rec", str(tmp_path / "secret")) is None
    assert resolve_audio(tmp_path / "rec", None) is None
