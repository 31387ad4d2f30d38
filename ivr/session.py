"""One call's wiring: AudioSocket events → Endpointer → recogniser → flow → commands → synthesiser → Pacer.

Two tasks per call:

* the *reader* owns the real-time duties: it feeds every audio frame to the endpointer, stops playback the moment
  the caller starts talking over a barge-in prompt (the endpointer's pre-roll keeps their first words), and
  queues utterances, DTMF and the hang-up for the dialog;
* the *dialog loop* takes one input at a time, asks the flow what to do and carries out its commands (recognise,
  ask the knowledge base, speak, transfer, hang up), timing each stage of every turn.

Whatever happens, ``run`` closes the call row with its outcome in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotline import metrics
from hotline.logsetup import call_uuid_var
from hotline.models.calls import Outcome
from ivr import flow as F
from ivr.audiosocket import (
    AudioReceived,
    AudioSocketConnection,
    AudioSocketProtocolError,
    DtmfReceived,
    ErrorReceived,
    HangupReceived,
    Pacer,
    UuidReceived,
)
from ivr.calllog import CallLog
from kb.api import Answer
from speech.api import FRAME_BYTES, Transcript
from speech.vad import SpeechEnded, SpeechPaused, SpeechStarted

log = logging.getLogger(__name__)


class Speech(Protocol):
    async def recognize(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript: ...

    def synthesize(self, text: str) -> AsyncIterator[bytes]: ...

    def prompt_audio(self, text: str) -> bytes: ...


class Knowledge(Protocol):
    def answer(self, question: str, context_item: str | None = None) -> Answer: ...

    def hotwords(self) -> list[str]: ...


class Booking(Protocol):
    """A booking sub-dialog for one call: caller input in, reply out."""

    async def handle(self, command: F.Book) -> F.BookingReplied: ...


class Agents(Protocol):
    def staffed(self) -> bool: ...

    async def status(self) -> F.AgentStatus: ...


class BookingBridge:
    """One call's booking sub-dialog (ivr.booking.dialog.BookingDialog) behind the flow's Book command.

    ``make_dialog(item_code)`` builds a fresh dialog; its store writes to the database, so the async path runs it
    in a worker thread.
    """

    def __init__(self, make_dialog: Callable[[str | None], Any]) -> None:
        self._make = make_dialog
        self.dialog: Any = None

    def handle_sync(self, cmd: F.Book) -> F.BookingReplied:
        if self.dialog is None or cmd.start:
            self.dialog = self._make(cmd.item_code)
            text = cmd.text or ""
            intent = "cancel" if "取消" in text else "query" if "查" in text else "book"
            reply = self.dialog.start(intent, text)
        elif cmd.dtmf is not None:
            reply = self.dialog.handle_dtmf(cmd.dtmf)
        else:
            reply = self.dialog.handle_text(cmd.text or "")
        booked = self.dialog.intent == "book" and self.dialog.booking is not None
        return F.BookingReplied(reply.say, reply.done, booked)

    async def handle(self, cmd: F.Book) -> F.BookingReplied:
        return await asyncio.get_running_loop().run_in_executor(None, self.handle_sync, cmd)


class KbHints:
    """The knowledge base's terms (names and aliases) as recogniser hints, built once per KB revision.

    The whole list goes to the recogniser, which keeps the few that sound like what it heard (speech.hints):
    cutting it here dropped the aliases callers say (狗证). Calls share one tuple, so the recognition worker can
    batch their utterances together.
    """

    def __init__(self, qa: Knowledge) -> None:
        self.qa = qa
        self._key: tuple[int, Any] | None = None
        self._terms: tuple[str, ...] = ()
        self._with_listen: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.builds = 0  # how many times the list was computed (tests check it is not per turn)

    def _revision_key(self) -> tuple[int, Any]:
        engine = getattr(self.qa, "engine", self.qa)  # KnowledgeHolder swaps engines on reload
        return id(engine), getattr(engine, "revision", None)

    def terms(self, listen: Sequence[str] = ()) -> tuple[str, ...]:
        key = self._revision_key()
        if key != self._key:
            try:
                self._terms = tuple(dict.fromkeys(self.qa.hotwords()))
            except Exception as exc:  # recognition still works without hints
                log.warning("no recogniser hints from the knowledge base: %s", exc)
                self._terms = ()
            self._with_listen = {}
            self._key = key
            self.builds += 1
        if not listen:
            return self._terms
        listen = tuple(listen)
        if listen not in self._with_listen:
            self._with_listen[listen] = tuple(dict.fromkeys((*listen, *self._terms)))
        return self._with_listen[listen]


@dataclass
class SessionDeps:
    """Shared, long-lived parts every call uses (loaded once by the runtime)."""

    speech: Speech
    qa: Knowledge
    endpointer: Callable[[], Any]  # -> speech.vad.Endpointer (feed(frame) -> events, .playing)
    calllog: CallLog
    agents: Agents
    booking: Callable[[str, str | None], Booking] | None = None  # (call uuid, caller number) -> dialog
    flow_options: F.FlowOptions = field(default_factory=F.FlowOptions)
    max_call_s: float = 600.0
    prompt_cache: dict[str, bytes] = field(default_factory=dict)  # fixed prompts, rendered at start-up
    kb_hints: KbHints | None = None

    def __post_init__(self) -> None:
        if self.kb_hints is None:
            self.kb_hints = KbHints(self.qa)


@dataclass
class _Early:
    """Recognition started at a pause (speech.vad.SpeechPaused), before the end of the turn was decided."""

    pcm: bytes
    hints: tuple[str, ...]
    task: asyncio.Task[Any]
    at: float


@dataclass
class _Heard:
    pcm: bytes
    reason: str
    at: float  # monotonic time of the end-of-speech decision
    endpoint_ms: float | None
    early: _Early | None = None  # the same audio, already being recognised


@dataclass
class _Turn:
    """Latency and content of the caller turn being answered."""

    fields: dict[str, Any]
    t_end: float
    latency: dict[str, float]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class CallSession:
    def __init__(self, conn: AudioSocketConnection, deps: SessionDeps) -> None:
        self.conn = conn
        self.deps = deps
        self.flow = F.CallFlow(deps.flow_options)
        self.pacer = Pacer(conn.send_audio)
        self.endpointer = deps.endpointer()
        self.uuid: str | None = str(conn.uuid) if conn.uuid else None
        self.caller_number: str | None = None
        self._inputs: asyncio.Queue[Any] = asyncio.Queue()
        self._got_uuid = asyncio.Event()
        self._speaking = False
        self._frame_buf = bytearray()
        self._hung_up = False
        self._playing: F.Say | None = None
        self._barged = False  # the caller talked over the current Say
        self._cut = asyncio.Event()  # set to abandon the current Say at once (barge-in, hang-up)
        self._listen: F.Listen | None = None
        self._early: _Early | None = None
        self._turn: _Turn | None = None
        self._booking: Booking | None = None
        self._tts_failed = False
        self._released = False  # transferred or hung up by us: nothing more to say
        self._unheard_answer = False  # an answer was due when the caller hung up
        self._overtime = False  # max_call_s reached: only the goodbye may still be said
        self._saying_goodbye = False
        self._frames_in = 0  # caller audio received, in 20 ms frames: the call's own clock
        self.barge_ins: list[int] = []  # caller-audio time (ms) at which playback was cut
        self.turn_latencies: list[dict[str, float]] = []

    # ---- entry point ----

    async def run(self) -> Outcome:
        outcome: Outcome = Outcome.ERROR
        error: str | None = None
        reader: asyncio.Task[None] | None = None
        metrics.ACTIVE_CALLS.inc()
        try:
            reader = asyncio.create_task(self._read(), name="call-reader")
            if self.uuid is None:
                await self._wait_uuid(reader)
            call_uuid_var.set(self.uuid)
            await self.deps.calllog.start_call(self.uuid)
            await self._dialog()
            outcome = self.flow.outcome
        except AudioSocketProtocolError as exc:
            error = f"protocol: {exc}"
            metrics.ERRORS.labels("protocol").inc()
            log.warning("malformed AudioSocket data, closing the call: %s", exc)
        except _NoUuid:
            error = "no UUID"
        except asyncio.CancelledError:
            error = "server shutdown"
            raise
        except Exception as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            metrics.ERRORS.labels("session").inc()
            log.exception("call failed")
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            if self._early is not None:
                self._early.task.cancel()
            self.pacer.stop()
            if error is not None:
                outcome = Outcome.ERROR
            metrics.ACTIVE_CALLS.dec()
            metrics.CALLS.labels(outcome.value).inc()
            if self.uuid is not None:
                record = asyncio.ensure_future(self._close_record(outcome, error))
                try:
                    await asyncio.shield(record)
                except asyncio.CancelledError:  # shutdown arrived while closing: finish the row, then go
                    await record
                    raise
            if not self.conn.closed:
                with contextlib.suppress(Exception):
                    await self.conn.hangup()
        return outcome

    async def _close_record(self, outcome: Outcome, error: str | None) -> None:
        assert self.uuid is not None
        if error:
            await self.deps.calllog.event(self.uuid, "error", {"error": error})
        await self.deps.calllog.finish(self.uuid, outcome, error)

    async def _wait_uuid(self, reader: asyncio.Task[None], timeout_s: float = 5.0) -> None:
        """Asterisk sends the UUID first; a peer that closes or stays silent instead is not a call."""
        got = asyncio.create_task(self._got_uuid.wait())
        try:
            await asyncio.wait({got, reader}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            got.cancel()
        if self.uuid is None:
            raise _NoUuid

    # ---- reader task: real-time duties ----

    async def _read(self) -> None:
        try:
            async for event in self.conn.events():
                if isinstance(event, AudioReceived):
                    self._audio(event.pcm)
                elif isinstance(event, UuidReceived):
                    if self.uuid is None:
                        self.uuid = str(event.uuid)
                        self._got_uuid.set()
                elif isinstance(event, DtmfReceived):
                    self._interrupt()
                    self._inputs.put_nowait(F.Dtmf(event.digit))
                elif isinstance(event, HangupReceived | ErrorReceived):
                    self._hung_up = True
                    interrupted = self._playing.kind if self._playing else None
                    self._cut.set()
                    self.pacer.stop()
                    self._inputs.put_nowait(F.HungUp(interrupted))
                    return
        except Exception as exc:  # malformed bytes, or a bug: the dialog loop fails this call with it
            self._hung_up = True
            self._cut.set()
            self.pacer.stop()
            self._inputs.put_nowait(exc)

    def _audio(self, pcm: bytes) -> None:
        # The endpointer takes exact 20 ms frames; Asterisk sends those, other peers may not.
        self._frame_buf += pcm
        while len(self._frame_buf) >= FRAME_BYTES:
            frame = bytes(self._frame_buf[:FRAME_BYTES])
            del self._frame_buf[:FRAME_BYTES]
            self._frame(frame)

    def _frame(self, frame: bytes) -> None:
        self._frames_in += 1
        self.endpointer.playing = self.pacer.playing
        for ev in self.endpointer.feed(frame):
            if isinstance(ev, SpeechStarted):
                self._speaking = True
                self._interrupt()
            elif isinstance(ev, SpeechPaused):
                self._recognize_early(ev.pcm)
            elif isinstance(ev, SpeechEnded):
                self._speaking = False
                early, self._early = self._early, None
                if early is not None and early.pcm != ev.pcm:
                    early.task.cancel()  # the caller went on after the pause: that audio was not the turn
                    early = None
                if ev.reason == "too_short":
                    continue  # a click or a cough: nothing to recognise
                # The endpoint decision comes end_silence_ms after the last voiced frame.
                endpoint_ms = float(getattr(self.endpointer, "end_silence_ms", 0)) or None
                self._inputs.put_nowait(_Heard(ev.pcm, ev.reason, time.monotonic(), endpoint_ms, early))

    def _hints(self) -> tuple[str, ...]:
        assert self.deps.kb_hints is not None
        return self.deps.kb_hints.terms(self._listen.hints if self._listen else ())

    def _recognize_early(self, pcm: bytes) -> None:
        """Speculative end of turn: recognise the audio up to a pause now; the turn's end, end_silence_ms after
        the last word, usually confirms it and the result is ready sooner. A superseded guess is cancelled
        (dropped from the recognition queue if it has not started)."""
        if self._early is not None:
            self._early.task.cancel()
        hints = self._hints()
        task = asyncio.get_running_loop().create_task(self.deps.speech.recognize(pcm, hints), name="early-asr")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # an unused guess's error is not news
        self._early = _Early(pcm, hints, task, time.monotonic())

    def _interrupt(self) -> None:
        # Also between sentences, while the next one is still being synthesised.
        if self._playing is not None and self._playing.barge_in and not self._barged:
            self._barged = True
            self._cut.set()
            self.pacer.stop()
            self.barge_ins.append(self._frames_in * 20)
            if self.uuid:
                self.deps.calllog.event(self.uuid, "barge_in", {"prompt": self._playing.kind,
                                                                "text": self._playing.text[:40]})

    # ---- dialog loop ----

    async def _dialog(self) -> None:
        clock = asyncio.create_task(self._limit_call(self.deps.max_call_s), name="call-clock")
        try:
            await self._converse()
        finally:
            clock.cancel()

    async def _limit_call(self, max_s: float) -> None:
        """The call-length limit holds during playback too: cut whatever is playing and queue the goodbye."""
        await asyncio.sleep(max_s)
        self._overtime = True
        self._cut.set()
        self.pacer.stop()
        self._inputs.put_nowait(F.Timer("max_call"))

    async def _converse(self) -> None:
        # Only the clock here: asking AMI about free agents would delay the greeting.
        await self._execute(self.flow.handle(F.CallStarted(staffed=self.deps.agents.staffed())))
        listen_since = time.monotonic()
        while self.flow.state is not F.State.ENDED:
            timeout: float | None = None
            if self._listen is not None and not self._speaking:
                timeout = max(0.0, listen_since + self._listen.timeout_s - time.monotonic())
            try:
                item = await asyncio.wait_for(self._inputs.get(), timeout=timeout)
            except TimeoutError:
                if self._speaking:
                    continue  # the caller is mid-sentence: wait for the endpointer
                item = F.Silence()
            if isinstance(item, Exception):
                raise item
            if self._overtime and not isinstance(item, F.Timer | F.HungUp):
                continue  # input that raced the limit: the goodbye comes first
            if isinstance(item, F.Timer):
                self._saying_goodbye = True
            if isinstance(item, F.HungUp) and self._unheard_answer:
                item = F.HungUp("answer")
            event = await self._to_event(item)
            if event is None:
                continue
            await self._execute(self.flow.handle(event))
            listen_since = time.monotonic()

    async def _to_event(self, item: Any) -> F.Event | None:
        if not isinstance(item, _Heard):
            if isinstance(item, F.Dtmf) and self.uuid:
                self.deps.calllog.turn(self.uuid, speaker="caller", kind="dtmf", dtmf=item.digit)
            return item
        hints = self._hints()
        t0 = time.monotonic()
        early = item.early if item.early is not None and item.early.hints == hints else None
        if item.early is not None and early is None:
            item.early.task.cancel()  # the flow listens for other words now (e.g. yes/no): recognise again
        try:
            transcript = await (early.task if early else self.deps.speech.recognize(item.pcm, hints))
        except Exception as exc:
            metrics.ERRORS.labels("asr").inc()
            log.warning("recognition failed: %s", exc)
            return F.SpeechFailed("asr", str(exc))
        asr_s = time.monotonic() - t0
        metrics.RECOGNITION_SECONDS.observe(asr_s)
        latency = {"asr": _ms(asr_s)}
        if early is not None:  # how long before the end-of-turn decision recognition began
            latency["asr_early"] = _ms(item.at - early.at)
        if item.endpoint_ms is not None:
            latency["endpoint"] = round(item.endpoint_ms, 1)
        text = transcript.text.strip()
        self._turn = _Turn({"speaker": "caller", "kind": "speech", "text": text,
                            "asr_confidence": round(transcript.confidence, 4)}, item.at, latency)
        if not text:
            await self._log_turn()
            return F.RecognitionFailed(item.reason or "empty")
        return F.Utterance(text, transcript.confidence)

    async def _execute(self, commands: list[F.Command]) -> None:
        pending = list(commands)
        while pending:
            cmd = pending.pop(0)
            if self._overtime and not self._saying_goodbye and isinstance(cmd, F.Say | F.Listen):
                continue  # time is up: what this batch still had to say gives way to the goodbye
            if (self._hung_up or self._released) and isinstance(cmd, F.Say | F.Listen):
                if isinstance(cmd, F.Say) and cmd.kind == "answer" and self._hung_up:
                    self._unheard_answer = True
                continue
            if isinstance(cmd, F.Say):
                finished = await self._say(cmd)
                if not finished and not self._hung_up:
                    # Barge-in: drop the rest of this batch's speech, keep listening.
                    pending = [c for c in pending if not isinstance(c, F.Say)]
            elif isinstance(cmd, F.Listen):
                self._listen = cmd
            elif isinstance(cmd, F.Ask):
                pending[:0] = self.flow.handle(await self._ask(cmd))
            elif isinstance(cmd, F.CheckAgents):
                pending[:0] = self.flow.handle(await self.deps.agents.status())
            elif isinstance(cmd, F.Book):
                pending[:0] = self.flow.handle(await self._book(cmd))
            elif isinstance(cmd, F.Transfer):
                await self._transfer(cmd)
            elif isinstance(cmd, F.RequestCallback):
                assert self.uuid
                self.deps.calllog.callback(self.uuid, self.caller_number, cmd.question, cmd.item_code)
            elif isinstance(cmd, F.Hangup):
                self._released = True
                await self._drain_audio()
                await self.conn.hangup()
            elif isinstance(cmd, F.Log):
                assert self.uuid
                self.deps.calllog.event(self.uuid, cmd.name, cmd.data or None)
        if self._turn is not None and self.flow.state is not F.State.ANSWERING:
            await self._log_turn()

    async def _ask(self, cmd: F.Ask) -> F.Event:
        t0 = time.monotonic()
        try:
            answer = await asyncio.get_running_loop().run_in_executor(
                None, self.deps.qa.answer, cmd.question, cmd.context_item
            )
        except Exception as exc:
            metrics.ERRORS.labels("qa").inc()
            log.exception("knowledge base failed")
            return F.SpeechFailed("qa", str(exc))
        confidence = 1.0
        if self._turn is not None:
            self._turn.latency["qa"] = _ms(time.monotonic() - t0)
            confidence = self._turn.fields.get("asr_confidence") or 0.0
            self._turn.fields.update(item_code=answer.item_code, aspect=answer.aspect,
                                     qa_confidence=round(answer.confidence, 4), abstained=answer.abstained,
                                     answer_text=answer.answer)
        if self.uuid and not answer.abstained and answer.item_code:
            self.deps.calllog.update(self.uuid, keep=True, first_question=cmd.question,
                                           item_code=answer.item_code, item_name=answer.item_name,
                                           department=answer.department)
        return F.Answered(cmd.question, answer, confidence, cmd.confirmed)

    async def _book(self, cmd: F.Book) -> F.Event:
        try:
            if self._booking is None or cmd.start:
                if self.deps.booking is None:
                    return F.SpeechFailed("booking", "booking dialog not configured")
                assert self.uuid
                self._booking = self.deps.booking(self.uuid, self.caller_number)
            return await self._booking.handle(cmd)
        except Exception as exc:
            metrics.ERRORS.labels("booking").inc()
            log.exception("booking dialog failed")
            return F.SpeechFailed("booking", str(exc))

    async def _transfer(self, cmd: F.Transfer) -> None:
        assert self.uuid
        self._released = True
        metrics.ESCALATIONS.labels(cmd.reason).inc()
        ctx = cmd.context
        self.deps.calllog.update(self.uuid, escalation_reason=cmd.reason)
        self.deps.calllog.update(self.uuid, keep=True, first_question=ctx.get("first_question"),
                                       item_code=ctx.get("item_code"), item_name=ctx.get("item_name"),
                                       department=ctx.get("department"))
        # The row must say "escalated" before Asterisk runs call-route, so close it before letting go.
        await self.deps.calllog.finish(self.uuid, Outcome.ESCALATED)
        await self._drain_audio()
        await self.conn.hangup()

    async def _drain_audio(self) -> None:
        """Let the audio already sent (at most the pacer's lead) play out before hanging up."""
        await asyncio.sleep(self.pacer.ahead_s)

    # ---- speaking ----

    async def _say(self, cmd: F.Say) -> bool:
        """Speak one sentence; False when the caller barged in (or hung up)."""
        self._playing = cmd
        self._barged = False
        self._cut.clear()
        playing = asyncio.create_task(self._play(cmd))
        cut = asyncio.create_task(self._cut.wait())
        try:
            # Racing the cut matters while the next sentence is still being synthesised: do not wait for it.
            await asyncio.wait({playing, cut}, return_when=asyncio.FIRST_COMPLETED)
            if not playing.done():
                playing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await playing
                return False
            playing.result()
            return not (self._hung_up or self._barged)
        except Exception as exc:
            metrics.ERRORS.labels("tts").inc()
            log.warning("speaking failed: %s", exc)
            if not self._tts_failed:
                self._tts_failed = True
                self._playing = None
                await self._execute(self.flow.handle(F.SpeechFailed("tts", str(exc))))
            return True
        finally:
            cut.cancel()
            self._playing = None

    async def _play(self, cmd: F.Say) -> None:
        t0 = time.monotonic()
        # Render the next sentence while this one plays (one ahead), so long answers have no gaps.
        ready: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
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
                    await self._first_frame(cmd, t0)
                if not await self.pacer.play(pcm):
                    return
            if failure:
                raise failure[0]
        finally:
            producer.cancel()

    async def _audio_for(self, text: str) -> AsyncIterator[bytes]:
        cached = self.deps.prompt_cache.get(text)
        if cached:
            yield cached
            return
        async for pcm in self.deps.speech.synthesize(text):  # cached sentences at once, the others rendered
            yield pcm

    async def _first_frame(self, cmd: F.Say, t0: float) -> None:
        assert self.uuid
        now = time.monotonic()
        if self._turn is not None:
            self._turn.latency["tts_first_frame"] = _ms(now - t0)
            self._turn.latency["total"] = _ms(now - self._turn.t_end)
            metrics.PROCESSING_SECONDS.observe(now - self._turn.t_end)
            await self._log_turn()
        self.deps.calllog.turn(self.uuid, speaker="ivr", kind=cmd.kind, text=cmd.text)

    async def _log_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is None or self.uuid is None:
            return
        metrics.TURNS.inc()
        self.turn_latencies.append(turn.latency)
        self.deps.calllog.turn(self.uuid, latency_ms=turn.latency, **turn.fields)



class _NoUuid(Exception):
    """The peer closed before sending its UUID message."""
