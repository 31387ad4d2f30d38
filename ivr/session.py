"""One call: the dialog loop that turns caller inputs into flow events and carries out the flow's commands.

Three parts per call, each in its own module:

* ``ivr.media_in.CallerAudio`` — the reader task: frames → endpointer → utterances, DTMF, hang-up; barge-in;
* ``ivr.playback.Playback`` — speaking: cached prompts or streamed synthesis, paced, cut within a frame;
* ``CallSession`` (here) — takes one caller input at a time, recognises it, asks the flow what to do and
  performs its commands through the one interpreter (``ivr.interpreter``), timing every stage of every turn.

Whatever happens, ``run`` closes the call row with its outcome in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from hotline import metrics
from hotline.logsetup import call_uuid_var
from hotline.outcomes import Outcome
from hotline.recordings import save_utterance
from ivr import flow as F
from ivr.audiosocket import AudioSocketConnection, AudioSocketProtocolError, Pacer
from ivr.interpreter import Played, Reply, run_async
from ivr.media_in import CallerAudio, CallerInput, Heard
from ivr.playback import Playback
from ivr.ports import Booking, SessionDeps

log = logging.getLogger(__name__)


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
        self.playback = Playback(self.pacer, deps.speech, deps.prompt_cache)
        self.caller = CallerAudio(conn, deps.endpointer(), self.playback, deps.speech, self._hints, deps.calllog,
                                  str(conn.uuid) if conn.uuid else None)
        self.caller_number: str | None = None
        self._listen: F.Listen | None = None
        self._turn: _Turn | None = None
        self._booking: Booking | None = None
        self._tts_failed = False
        self._released = False  # transferred or hung up by us: nothing more to say
        self._unheard_answer = False  # an answer was due when the caller hung up
        self._overtime = False  # max_call_s reached: only the goodbye may still be said
        self._saying_goodbye = False
        self._utterances = 0
        self.turn_latencies: list[dict[str, float]] = []

    @property
    def uuid(self) -> str | None:
        return self.caller.uuid

    @property
    def barge_ins(self) -> list[int]:
        """Caller-audio time (ms) at which playback was cut by the caller's voice or keys."""
        return self.caller.barge_ins

    # ---- entry point ----

    async def run(self) -> Outcome:
        outcome: Outcome = Outcome.ERROR
        error: str | None = None
        reader: asyncio.Task[None] | None = None
        metrics.ACTIVE_CALLS.inc()
        try:
            reader = asyncio.create_task(self.caller.run(), name="call-reader")
            if self.uuid is None:
                await self._wait_uuid(reader)
            call_uuid_var.set(self.uuid)
            await self.deps.calllog.start_call(self.uuid)
            await self._dialog()
            outcome = self.flow.outcome
        except AudioSocketProtocolError as exc:
            error = f"protocol: {exc}"
            metrics.ERRORS.labels("protocol").inc()
            log.warning("AudioSocket %s: malformed data, closing the call: %s", self.conn.peer, exc)
        except _NoUuid as exc:
            error = "no UUID"
            metrics.ERRORS.labels("protocol").inc()
            log.warning("AudioSocket %s: closing, %s", self.conn.peer, exc)
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
            self.caller.cancel_early()
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
        got = asyncio.create_task(self.caller.got_uuid.wait())
        try:
            await asyncio.wait({got, reader}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            got.cancel()
        if self.uuid is None:
            while not self.caller.inputs.empty():  # the reader failed (malformed bytes): that is the reason
                item = self.caller.inputs.get_nowait()
                if isinstance(item, Exception):
                    raise item
            raise _NoUuid("peer closed before sending the call UUID" if reader.done()
                          else f"no call UUID within {timeout_s:g} s")

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
        self.playback.cut()
        self.caller.inputs.put_nowait(F.Timer("max_call"))

    async def _converse(self) -> None:
        # Only the clock here: asking AMI about free agents would delay the greeting.
        await self._execute(self.flow.handle(F.CallStarted(staffed=self.deps.agents.staffed())))
        listen_since = time.monotonic()
        inputs = self.caller.inputs
        while self.flow.state is not F.State.ENDED:
            timeout: float | None = None
            if self._listen is not None and not self.caller.speaking:
                timeout = max(0.0, listen_since + self._listen.timeout_s - time.monotonic())
            item: CallerInput | F.Silence
            try:
                item = await asyncio.wait_for(inputs.get(), timeout=timeout)
            except TimeoutError:
                if self.caller.speaking:
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

    def _hints(self) -> tuple[str, ...]:
        assert self.deps.kb_hints is not None
        return self.deps.kb_hints.terms(self._listen.hints if self._listen else ())

    async def _to_event(self, item: CallerInput | F.Silence) -> F.Event | None:
        if not isinstance(item, Heard):
            if isinstance(item, F.Dtmf) and self.uuid:
                self.deps.calllog.turn(self.uuid, speaker="caller", kind="dtmf", dtmf=item.digit)
            return item
        hints = self._hints()
        t0 = time.monotonic()
        early = item.early if item.early is not None and item.early.hints == hints else None
        if item.early is not None and early is None:
            item.early.task.cancel()  # the flow listens for other words now (e.g. yes/no): recognise again
        try:
            # A hung recogniser must not leave the caller in silence: past the timeout it is a fault like any other.
            transcript = await asyncio.wait_for(early.task if early else self.deps.speech.recognize(item.pcm, hints),
                                                self.deps.asr_timeout_s)
        except TimeoutError:
            metrics.ERRORS.labels("asr").inc()
            log.warning("recognition gave no result in %g s", self.deps.asr_timeout_s)
            return F.SpeechFailed("asr", f"no result in {self.deps.asr_timeout_s:g} s", timeout=True)
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
        audio_path = await self._keep_utterance(item.pcm)
        if audio_path:
            self._turn.fields["audio_path"] = audio_path
        if not text:
            await self._log_turn()
            return F.RecognitionFailed(item.reason or "empty")
        return F.Utterance(text, transcript.confidence)

    async def _keep_utterance(self, pcm: bytes) -> str | None:
        """The caller's words as heard, for the admin panel's labelling view (real voices, held out)."""
        if self.deps.recording_dir is None or self.uuid is None:
            return None
        self._utterances += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                None, save_utterance, self.deps.recording_dir, self.uuid, self._utterances, pcm)
        except OSError as exc:  # a full disk must not end the call
            log.warning("could not keep the caller's utterance: %s", exc)
            return None

    # ---- carrying out commands ----

    async def _execute(self, commands: list[F.Command]) -> None:
        await run_async(self.flow, commands, self._perform)
        if self._turn is not None and self.flow.state is not F.State.ANSWERING:
            await self._log_turn()

    async def _perform(self, cmd: F.Command) -> Reply:
        if isinstance(cmd, F.Say | F.Listen) and self._silenced(cmd):
            return None
        if isinstance(cmd, F.Say):
            return await self._say(cmd)
        if isinstance(cmd, F.Listen):
            self._listen = cmd
        elif isinstance(cmd, F.Ask):
            return await self._ask(cmd)
        elif isinstance(cmd, F.CheckAgents):
            return await self.deps.agents.status()
        elif isinstance(cmd, F.Book):
            return await self._book(cmd)
        elif isinstance(cmd, F.Transfer):
            await self._transfer(cmd)
        elif isinstance(cmd, F.RequestCallback):
            assert self.uuid
            self.deps.calllog.callback(self.uuid, self.caller_number, cmd.question, cmd.item_code)
        elif isinstance(cmd, F.Hangup):
            self._released = True
            await self.playback.drain()
            await self.conn.hangup()
        elif isinstance(cmd, F.Log):
            assert self.uuid
            self.deps.calllog.event(self.uuid, cmd.name, cmd.data or None)
        return None

    def _silenced(self, cmd: F.Say | F.Listen) -> bool:
        """Speech that must not happen now: after the call-length limit (but the goodbye), or with no one left."""
        if self._overtime and not self._saying_goodbye:
            return True  # time is up: what this batch still had to say gives way to the goodbye
        if self.caller.hung_up or self._released:
            if isinstance(cmd, F.Say) and cmd.kind == "answer" and self.caller.hung_up:
                self._unheard_answer = True
            return True
        return False

    async def _say(self, cmd: F.Say) -> Reply:
        try:
            return await self.playback.say(cmd, self._first_frame)
        except Exception as exc:
            metrics.ERRORS.labels("tts").inc()
            log.warning("speaking failed: %s", exc)
            if self._tts_failed:
                return Played.FINISHED  # the apology already went out; carry on
            self._tts_failed = True
            return F.SpeechFailed("tts", str(exc))

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
        await self.playback.drain()
        await self.conn.hangup()

    # ---- the turn record ----

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
