"""What `hotline serve` runs for the IVR: AudioSocket and FastAGI servers, the AMI client, the shared engines.

Calls beyond ``max_calls`` hear "线路繁忙" and go straight to people (ivr.overflow).

Start-up order: database (replay the call-log spool) → knowledge base (from the database, hot-reloaded when its
revision changes) → speech engine (loaded once) → fixed prompts pre-rendered → AMI → rows a killed process left
open closed as ``failed_over`` by Asterisk's record of their channels → voicemails left while the IVR was down
filed as callback tasks → listeners. Shutdown reverses it; every
live call's row is closed by its session's ``finally``. While running, the call-log spool is replayed as soon as
the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from hotline.config import Settings
from ivr import prompts as P
from ivr.agi import FastAgiServer
from ivr.audiosocket import AudioSocketConnection, AudioSocketServer
from ivr.booking.bridge import BookingBridge
from ivr.calllog import CallLog
from ivr.control import CallControl, worker_id
from ivr.escalation import AgentMonitor
from ivr.flow import FlowOptions
from ivr.overflow import lines_busy
from ivr.ports import Agents, SessionDeps
from ivr.recordings import file_stray_voicemails
from ivr.session import CallSession
from kb.reloader import KnowledgeReloader
from speech.vad import Endpointer

log = logging.getLogger(__name__)

KB_POLL_S = 5.0
SPOOL_FLUSH_S = 5.0
PRERENDER_ANSWERS = 60  # answers rendered whole in the background: the most asked first, then item overviews


def load_speech(settings: Settings) -> Any:
    """The default speech engine (recogniser + synthesiser + prompt cache) for these settings."""
    from speech.engine import SpeechEngine

    return SpeechEngine.from_settings(settings)


# Barge-in: AudioSocket carries the caller's direction only (no digital echo of our prompt), so 120 ms of speech is
# enough evidence; the 200 ms default let the echo-tracking noise floor catch up with a soft-starting caller.
BARGE_IN_MS = 120


def endpointer_factory(settings: Settings) -> Callable[[], Endpointer]:
    from speech.vad import EndpointerOptions

    options = EndpointerOptions(barge_in_ms=BARGE_IN_MS)
    return lambda: Endpointer(end_silence_ms=settings.end_silence_ms, max_utterance_s=settings.max_utterance_s,
                              options=options, early_ms=settings.early_asr_ms)


def booking_factory(settings: Settings, knowledge: KnowledgeReloader) -> Callable[[str, str | None], BookingBridge]:
    from booking.slots import SlotPolicy
    from booking.store import BookingStore
    from ivr.booking.dialog import BookingDialog

    store = BookingStore.from_url(settings.effective_database_url, SlotPolicy.from_settings(settings))

    def find_item(text: str) -> str | None:
        a = knowledge.answer(text)
        return a.item_code if not a.abstained and a.item_code and a.item_code != "CENTRE" else None

    def materials_for(code: str) -> list[str]:
        item = knowledge.item(code)
        return [m.name for m in item.materials if m.required] if item is not None else []

    def make(call_uuid: str, caller: str | None) -> BookingBridge:
        return BookingBridge(lambda item_code: BookingDialog(
            store, caller, item_code=item_code, find_item=find_item, materials_for=materials_for,
            call_uuid=call_uuid))

    return make


async def prerender_prompts(speech: Any, texts: tuple[str, ...] = P.FIXED) -> dict[str, bytes]:
    """Fixed prompts as audio, so they play instantly (and still play when the synthesiser is down)."""
    loop = asyncio.get_running_loop()
    out: dict[str, bytes] = {}
    for text in texts:
        try:
            out[text] = await loop.run_in_executor(None, speech.prompt_audio, text)
        except Exception as exc:  # a prompt we cannot render is synthesised per call instead
            log.warning("could not pre-render prompt %r: %s", text[:20], exc)
    return out


def frequent_answers(session: Any, limit: int) -> list[str]:
    """The answers the IVR spoke most often (call log), most frequent first."""
    from sqlalchemy import func, select

    from hotline.models.calls import CallTurn

    count = func.count(CallTurn.id)
    rows = session.execute(
        select(CallTurn.text, count)
        .where(CallTurn.speaker == "ivr", CallTurn.kind == "answer", CallTurn.text.is_not(None))
        .group_by(CallTurn.text)
        .order_by(count.desc())
        .limit(limit)
    )
    return [text for text, _ in rows]


def answer_texts(knowledge: Any) -> list[str]:
    """Every answer the knowledge base composes for a named item or bundle, overviews first, then by aspect."""
    from kb.api import ASPECTS
    from kb.compose import bundle_answer, item_answer

    engine = getattr(knowledge, "engine", knowledge)
    kb = getattr(engine, "kb", None)
    if kb is None:
        return []
    out: list[str] = []
    for aspect in ("general", *(a for a in ASPECTS if a not in ("general", "none"))):
        out += [item_answer(kb, item, aspect) for item in kb.items()]
        out += [bundle_answer(kb, bundle, aspect) for bundle in kb.bundles]
    return out


class IvrRuntime:
    """The IVR side of one `hotline serve` process. Components may be passed in (tests pass light ones)."""

    def __init__(self, settings: Settings, *, speech: Any = None, knowledge: Any = None,
                 endpointer: Callable[[], Endpointer] | None = None, agents: Agents | None = None,
                 booking: Callable[[str, str | None], Any] | None = None, prerender: bool = True) -> None:
        self.settings = settings
        self.calllog = CallLog.from_settings(settings)
        self.speech = speech
        self.knowledge = knowledge
        self._endpointer = endpointer
        self._agents = agents
        self._booking = booking
        self._prerender = prerender
        self.monitor: AgentMonitor | None = None
        self.audiosocket: AudioSocketServer | None = None
        self.agi: FastAgiServer | None = None
        self.deps: SessionDeps | None = None
        self.sessions: set[CallSession] = set()
        self.turned_away = 0  # callers beyond max_calls, sent to people with "线路繁忙"
        self.prerendered: list[str] = []  # answers the background task put in the prompt cache
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        # A crash during a database outage leaves operations in the spool: apply them before anything reads.
        await loop.run_in_executor(None, self.calllog.replay_spool)
        if self.knowledge is None:
            self.knowledge = KnowledgeReloader.from_url(s.effective_database_url, meaning_cache=s.meaning_cache)
            await loop.run_in_executor(None, self.knowledge.load)
            # One answer now pays the lazy set-up (segmenter, sound keys, caches) before the first caller does.
            await loop.run_in_executor(None, self.knowledge.answer, "狗证要带什么材料")
            self._tasks.append(asyncio.create_task(self._watch_kb(), name="kb-reload"))
        if self.speech is None:
            t0 = time.monotonic()
            self.speech = await loop.run_in_executor(None, load_speech, s)
            log.info("speech engine ready in %.1f s", time.monotonic() - t0)
        if hasattr(self.speech, "warm_up"):  # load the models now, not during the first caller's question
            try:
                # Bounded: a decoder stuck in native code must not keep the phone from being answered (the
                # worker thread stays stuck; each call's recognition then times out and goes to an agent).
                took = await asyncio.wait_for(loop.run_in_executor(None, self.speech.warm_up), s.warmup_timeout_s)
                log.info("speech warm-up: %s", {k: round(v, 2) for k, v in took.items()})
            except TimeoutError:
                log.error("speech warm-up gave no result in %g s; starting anyway, calls whose recognition "
                          "times out will be handed to agents", s.warmup_timeout_s)
            except Exception as exc:  # still answer the phone: each call apologises and goes to an agent
                log.error("speech engine not usable, calls will be handed to agents: %s", exc)
        cache = await prerender_prompts(self.speech) if self._prerender else {}
        self.monitor = AgentMonitor.from_settings(s, self.calllog)
        await self.monitor.start()
        await self._close_orphans()  # before the listeners: new calls' rows are never mistaken for orphans
        await self._file_stray_voicemails()
        booking = self._booking
        if booking is None and isinstance(self.knowledge, KnowledgeReloader):
            booking = booking_factory(s, self.knowledge)
        self.deps = SessionDeps(
            speech=self.speech,
            qa=self.knowledge,
            endpointer=self._endpointer or endpointer_factory(s),
            calllog=self.calllog,
            agents=self._agents or self.monitor,
            booking=booking,
            flow_options=FlowOptions(),
            max_call_s=s.max_call_s,
            asr_timeout_s=s.asr_timeout_s,
            prompt_cache=cache,
            recording_dir=s.recording_dir,
        )
        self.audiosocket = AudioSocketServer(s.bind_host, s.audiosocket_port, self._on_call)
        self.agi = FastAgiServer(s.bind_host, s.agi_port, CallControl(s, self.calllog, self.monitor).routes)
        await self.audiosocket.start()
        await self.agi.start()
        self._tasks.append(asyncio.create_task(self._flush_spool(), name="spool-flush"))
        self._start_prerender()  # after the listeners: readiness never waits for it
        log.info("IVR ready: AudioSocket %s:%d, FastAGI %s:%d", s.bind_host, self.audiosocket.port, s.bind_host,
                 self.agi.port)

    async def _close_orphans(self) -> None:
        """Rows a killed process left open are closed as ``failed_over``, using Asterisk's record of which of
        those channels are still up (the dialplan's fallback carried them on) and which have hung up."""
        loop = asyncio.get_running_loop()
        worker = worker_id(self.settings)
        try:
            orphans = await loop.run_in_executor(None, self.calllog.open_calls, worker)
            if not orphans:
                return
            assert self.monitor is not None
            live = await self.monitor.live_channels()
            closed, carried_on = await loop.run_in_executor(None, self.calllog.close_orphans, live, worker)
        except SQLAlchemyError as exc:  # the spool and the next restart will catch up
            log.error("could not close call rows left open by a previous process: %s", exc)
            return
        log.warning("previous process left %d calls open: %d closed as failed_over (%s), %d still live in "
                    "Asterisk's dialplan (closed when they hang up)", len(orphans), closed,
                    "Asterisk says hung up" if live is not None else "AMI unavailable", carried_on)

    async def _file_stray_voicemails(self) -> None:
        """Messages callers left while this IVR was down (the dialplan records them anyway) become callback tasks."""
        try:
            await file_stray_voicemails(self.calllog, self.settings.recording_dir)
        except (SQLAlchemyError, OSError) as exc:  # the next start tries again; never a reason not to answer calls
            log.error("could not file voicemails left while the IVR was down: %s", exc)

    async def _flush_spool(self) -> None:
        """Replay the call-log spool as soon as the database is back, even when no call is writing."""
        while True:
            await asyncio.sleep(SPOOL_FLUSH_S)
            if self.calllog.spool_path.exists():
                await self.calllog.flush_spool()

    async def _on_call(self, conn: AudioSocketConnection) -> None:
        assert self.deps is not None
        if len(self.sessions) >= self.settings.max_calls:
            self.turned_away += 1
            await lines_busy(conn, self.deps, len(self.sessions), self.settings.max_calls)
            return
        session = CallSession(conn, self.deps)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)

    def _start_prerender(self) -> None:
        if not (self._prerender and self.settings.prerender_answers and hasattr(self.speech, "render_for_cache")):
            return
        running = [t for t in self._tasks if t.get_name() == "answer-prerender" and not t.done()]
        for task in running:
            task.cancel()  # it works from the old knowledge base's answers
        self._tasks.append(asyncio.create_task(self._prerender_answers(), name="answer-prerender"))

    async def _prerender_answers(self) -> None:
        """Render answers into the prompt cache while no call is in progress (synthesis has one thread; live
        calls come first): first the opening sentence of every answer the KB can give, so any answer starts
        playing without synthesis time and renders its rest while that sentence plays; then the most asked
        answers (call log) and the item overviews whole. Cached sentences are skipped, so a restart is quick."""
        loop = asyncio.get_running_loop()
        try:
            frequent = await self.calllog.read(frequent_answers, PRERENDER_ANSWERS)
            every = await loop.run_in_executor(None, answer_texts, self.knowledge)
        except Exception as exc:
            log.warning("answer pre-rendering skipped: %s", exc)
            return
        likely = list(dict.fromkeys(frequent + every))[: self.settings.prerender_answers]
        plan = [(text, True) for text in likely] + [(text, False) for text in likely[:PRERENDER_ANSWERS]]
        t0 = time.monotonic()
        for text, first_only in plan:
            done = False
            while not done:
                while self.sessions:  # yield to callers; resume when the lines are quiet
                    await asyncio.sleep(1.0)
                try:
                    done = await loop.run_in_executor(None, functools.partial(
                        self.speech.render_for_cache, text, lambda: not self.sessions, first_only=first_only))
                except Exception as exc:
                    log.warning("could not pre-render an answer: %s", exc)
                    break
                if not done and not self.sessions:
                    break  # not interrupted by a call: the primary voice failed, leave it to live synthesis
            if done and not first_only:
                self.prerendered.append(text)
        log.info("pre-rendered the opening of %d answers and %d whole answers in %.1f s",
                 len(plan) - len(self.prerendered), len(self.prerendered), time.monotonic() - t0)

    async def _watch_kb(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(KB_POLL_S)
            try:
                reloaded = await loop.run_in_executor(None, self.knowledge.reload_if_changed)
            except Exception as exc:  # the old engine keeps answering
                log.warning("knowledge base reload failed: %s", exc)
                continue
            if reloaded:
                self._start_prerender()  # edited answers' openings (cached sentences are skipped quickly)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for server in (self.audiosocket, self.agi):
            if server is not None:
                await server.stop()  # cancels live calls; each session closes its row in finally
        if self.monitor is not None:
            await self.monitor.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.calllog.close)
        if isinstance(self.knowledge, KnowledgeReloader):
            self.knowledge.close()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run the IVR until ``stop`` is set (called by cli.serve)."""
    runtime = IvrRuntime(settings)
    await runtime.start()
    print(f"IVR             AudioSocket {settings.bind_host}:{runtime.audiosocket.port}  "
          f"FastAGI {settings.bind_host}:{runtime.agi.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
