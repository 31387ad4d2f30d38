"""The sherpa-onnx backend without weights (none can be installed here): model discovery, the errors a centre sees
for a missing or incomplete model directory, and selection through the same interface as the other recognisers."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from hotline.config import load_settings
from speech.api import ModelUnavailableError
from speech.audio import silence
from speech.engine import SpeechEngine, make_recognizer, speech_status
from speech.sherpa_asr import SherpaRecognizer, find_model


def _touch(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes("<blk> 0\n是 1\n".encode() if name == "tokens.txt" else b"not an onnx model")
    return directory


@pytest.mark.parametrize(("name", "files", "kind", "picked"), [
    ("sherpa-onnx-paraformer-zh-2023-09-14", ("model.onnx", "model.int8.onnx", "tokens.txt"), "paraformer",
     {"model": "model.int8.onnx"}),
    ("sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17", ("model.int8.onnx", "tokens.txt"), "sense_voice",
     {"model": "model.int8.onnx"}),
    ("sherpa-onnx-zipformer-zh-2023-9-2", ("encoder-epoch-20-avg-1.onnx", "encoder-epoch-20-avg-1.int8.onnx",
     "decoder-epoch-20-avg-1.onnx", "joiner-epoch-20-avg-1.int8.onnx", "tokens.txt"), "transducer",
     {"encoder": "encoder-epoch-20-avg-1.int8.onnx", "decoder": "decoder-epoch-20-avg-1.onnx",
      "joiner": "joiner-epoch-20-avg-1.int8.onnx"}),
])
def test_the_kind_of_model_follows_from_its_files(tmp_path, name, files, kind, picked):
    model = find_model(_touch(tmp_path / name, *files))
    assert model.kind == kind
    assert {role: p.name for role, p in model.files.items() if role != "tokens"} == picked
    assert model.files["tokens"].name == "tokens.txt"


@pytest.mark.parametrize(("files", "message"), [
    ((), "holds no sherpa-onnx model"),
    (("model.onnx",), "tokens.txt is missing"),
    (("encoder.onnx", "decoder.onnx", "tokens.txt"), r"incomplete transducer model \(no joiner\*\.onnx"),
])
def test_an_incomplete_directory_says_what_is_missing_and_how_to_add_a_model(tmp_path, files, message):
    directory = _touch(tmp_path / "model", *files)
    with pytest.raises(ModelUnavailableError, match=message) as err:
        SherpaRecognizer(directory).load()
    assert "HOTLINE_SHERPA_MODEL_DIR" in str(err.value)


def test_a_malformed_token_list_is_refused_before_sherpa_onnx_sees_it(tmp_path):
    # sherpa-onnx would exit() the IVR process on this file instead of raising.
    directory = _touch(tmp_path / "sherpa-onnx-paraformer-zh", "model.onnx")
    (directory / "tokens.txt").write_text("not an onnx model\n", encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match="not a sherpa-onnx token list"):
        SherpaRecognizer(directory).load()


def test_a_missing_or_unset_directory_is_refused(tmp_path):
    with pytest.raises(ModelUnavailableError, match="sherpa_model_dir is not set"):
        SherpaRecognizer("").transcribe(silence(100))
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        SherpaRecognizer(tmp_path / "nowhere").transcribe(silence(100))


def test_an_unreadable_model_is_a_model_error_not_a_crash(tmp_path):
    pytest.importorskip("sherpa_onnx")
    directory = _touch(tmp_path / "sherpa-onnx-paraformer-zh", "model.onnx")
    (directory / "tokens.txt").write_text("<blk> 0\n是 1\n", encoding="utf-8")
    recognizer = SherpaRecognizer(directory)
    with pytest.raises(ModelUnavailableError, match="could not load the paraformer model"):
        recognizer.load()
    assert not recognizer.loaded


def test_asr_engine_sherpa_selects_it_through_the_same_interface(tmp_path):
    directory = _touch(tmp_path / "sherpa-onnx-paraformer-zh", "model.int8.onnx", "tokens.txt")
    settings = load_settings(env={"HOTLINE_ASR_ENGINE": "sherpa", "HOTLINE_SHERPA_MODEL_DIR": str(directory)},
                             var_dir=str(tmp_path / "var"))
    recognizer = make_recognizer(settings)
    assert isinstance(recognizer, SherpaRecognizer) and recognizer.model_dir == str(directory)
    row = next(r for r in speech_status(settings) if r.engine == "sherpa")
    assert row.detail.startswith("paraformer model at") == row.ready
    # A broken model surfaces from SpeechEngine.recognize as the speech error the IVR turns into an apology.
    engine = SpeechEngine(settings, recognizer, SpeechEngine.from_settings(
        dataclasses.replace(settings, asr_engine="whisper", tts_engine="espeak")).synthesizer)
    with pytest.raises(ModelUnavailableError):
        asyncio.run(engine.recognize(silence(200) + b"\x10\x20" * 4000))


def test_status_names_the_fix_for_a_missing_directory(tmp_path):
    settings = load_settings(env={"HOTLINE_ASR_ENGINE": "sherpa"}, var_dir=str(tmp_path / "var"))
    row = next(r for r in speech_status(settings) if r.engine == "sherpa")
    assert not row.ready and "sherpa_model_dir" in row.fix
