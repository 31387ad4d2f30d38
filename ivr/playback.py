"""Speaking to the caller: one ``Say`` at a time, paced in real time, cut the moment it must stop.

Audio comes from the fixed-prompt cache when the text is a known prompt, otherwise from the synthesiser, which
streams each sentence in chunks (its own cache answers repeated sentences at once). The next chunk is rendered
while the current one plays, so long answers have no gaps. ``interrupt`` (the caller talked over a prompt that
allows barge-in) and ``cut`` (hang-up, call-length limit) stop playback within a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from ivr import flow as F
from ivr.audiosocket import Pacer
from ivr.interpreter import Played
from ivr.ports import Speech

FirstFrame = Callable[[F.Say, float], Awaitable[None]]  # (the Say, monotonic time synthesis began)


class Playback:
    def __init__(self, pacer: Pacer, speech: Speech, prompt_cache: dict[str, bytes]) -> None:
        self.pacer = pacer
        self.speech = speech
        self.prompt_cache = prompt_cache
        self.current: F.Say | None = None
        self._barged = False  # the caller talked over the current Say
        self._cut = asyncio.Event()  # set to abandon the current Say at once

    @property
    def playing(self) -> bool:
        """Audio is going out right now (the endpointer needs more evidence for speech while it is)."""
        return self.pacer.playing

    def interrupt(self) -> F.Say | None:
        """The caller spoke or pressed a key: stop the current Say if it allows barge-in; returns what was cut.

        Also between sentences, while the next one is still being synthesised."""
        say = self.current
        if say is None or not say.barge_in or self._barged:
            return None
        self._barged = True
        self.cut()
        return say

    def cut(self) -> None:
        """Stop whatever is playing now (hang-up, call-length limit)."""
        self._cut.set()
        self.pacer.stop()

    async def say(self, cmd: F.Say, on_first_frame: FirstFrame) -> Played:
        """Speak one sentence; CUT when the caller barged in or playback was cut. Synthesis errors propagate."""
        self.current = cmd
        self._barged = False
        self._cut.clear()
        playing = asyncio.create_task(self._play(cmd, on_first_frame))
        cut = asyncio.create_task(self._cut.wait())
        try:
            # Racing the cut matters while the next sentence is still being synthesised: do not wait for it.
            await asyncio.wait({playing, cut}, return_when=asyncio.FIRST_COMPLETED)
            if not playing.done():
                playing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await playing
                return Played.CUT
            playing.result()
            return Played.CUT if self._cut.is_set() else Played.FINISHED
        finally:
            cut.cancel()
            self.current = None

    async def drain(self) -> None:
        """Let the audio already sent (at most the pacer's lead) play out, e.g. before hanging up."""
        await asyncio.sleep(self.pacer.ahead_s)

    async def _play(self, cmd: F.Say, on_first_frame: FirstFrame) -> None:
        t0 = time.monotonic()
        ready: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)  # one chunk rendered ahead
        failure: list[BaseException] = []

        async def produce() -> None:
            try:
                async for chunk in self._audio_for(cmd.text):
                    await ready.put(chunk)
            except Exception as exc:
                failure.append(exc)
            await ready.put(None)

        producer = asyncio.create_task(produce())
        try:
            first = True
            while (pcm := await ready.get()) is not None:
                if first:
                    first = False
                    await on_first_frame(cmd, t0)
                if not await self.pacer.play(pcm):
                    return
            if failure:
                raise failure[0]
        finally:
            producer.cancel()

    async def _audio_for(self, text: str) -> AsyncIterator[bytes]:
        cached = self.prompt_cache.get(text)
        if cached:
            yield cached
            return
        async for pcm in self.speech.synthesize(text):  # cached sentences at once, the others rendered
            yield pcm
