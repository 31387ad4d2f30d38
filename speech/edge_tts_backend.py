"""Optional online voice (Microsoft Edge read-aloud via edge-tts), bounded by a short timeout.

The hotline must work offline, so this engine is only ever the primary of a fallback chain (speech.fallback):
when the service is slow or unreachable, the chain logs it and the offline voice speaks instead.
Rendered sentences are kept in a small in-memory LRU; the engine's PromptCache keeps whole prompts on disk.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator

from speech.api import SAMPLE_RATE, ModelUnavailableError, SynthesisError
from speech.audio import silence
from speech.textnorm import split_sentences, to_spoken

PAUSE_MS = 120


def decode_mp3(data: bytes) -> bytes:
    """MP3 bytes -> 8 kHz mono slin (PyAV ships with faster-whisper)."""
    import av

    out = bytearray()
    try:
        with av.open(io.BytesIO(data)) as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for converted in resampler.resample(frame):
                    out += bytes(converted.planes[0])[: converted.samples * 2]
            for converted in resampler.resample(None):
                out += bytes(converted.planes[0])[: converted.samples * 2]
    except (av.error.FFmpegError, ValueError) as exc:
        raise SynthesisError(f"edge-tts returned undecodable audio: {exc}") from exc
    return bytes(out)


class EdgeSynthesizer:
    """Implements speech.api.Synthesizer with an online Azure neural voice; raises SynthesisError within timeout_s."""

    name = "edge"

    def __init__(self, voice: str, timeout_s: float, proxy: str | None = None, cache_size: int = 256) -> None:
        self.voice = voice
        self.timeout_s = timeout_s
        self.proxy = proxy
        self.cache_size = cache_size
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def check(self) -> None:
        try:
            import edge_tts  # noqa: F401
        except ImportError:
            raise ModelUnavailableError("the online voice needs edge-tts: pip install edge-tts") from None

    async def _fetch(self, sentence: str) -> bytes:
        import edge_tts

        timeout = max(1, math.ceil(self.timeout_s))
        communicate = edge_tts.Communicate(
            sentence, self.voice, proxy=self.proxy, connect_timeout=timeout, receive_timeout=timeout
        )
        chunks = [c["data"] for c in [chunk async for chunk in communicate.stream()] if c["type"] == "audio"]
        return b"".join(chunks)

    def render_sentence(self, sentence: str) -> bytes:
        with self._lock:
            if sentence in self._cache:
                self._cache.move_to_end(sentence)
                return self._cache[sentence]
        self.check()
        try:
            # Runs on the engine's worker thread, which has no event loop of its own.
            mp3 = asyncio.run(asyncio.wait_for(self._fetch(sentence), self.timeout_s))
        except TimeoutError:
            raise SynthesisError(f"edge-tts did not answer within {self.timeout_s:g} s") from None
        except Exception as exc:  # network, TLS, service errors: all mean "use the offline voice"
            raise SynthesisError(f"edge-tts failed: {exc.__class__.__name__}: {exc}") from exc
        if not mp3:
            raise SynthesisError("edge-tts returned no audio")
        pcm = decode_mp3(mp3) + silence(PAUSE_MS)
        with self._lock:
            self._cache[sentence] = pcm
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return pcm

    def synthesize(self, text: str) -> Iterator[bytes]:
        for sentence in split_sentences(to_spoken(text)):
            yield self.render_sentence(sentence)
