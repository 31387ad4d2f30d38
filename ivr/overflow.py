"""Callers beyond the IVR's call limit (``max_calls``): one short sentence, then people.

The caller hears "您好，现在线路繁忙，正在为您转接人工服务，请稍候。" (out of staffed hours: leave a message) from the
prompt cache, and the IVR lets go; Asterisk's call-route then sends the call to the agent queue (voicemail out of
hours), as for any escalated call. Nothing is recognised or synthesised: an overloaded machine is exactly when
that work must not start. The call row is closed ``escalated`` with the reason ``lines_busy`` (``abandoned`` if
the caller hung up during the sentence) and a ``lines_busy`` event records the load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hotline import metrics
from hotline.logsetup import call_uuid_var
from hotline.outcomes import Outcome
from ivr import prompts as P
from ivr.audiosocket import AudioSocketConnection, AudioSocketProtocolError, HangupReceived, Pacer, UuidReceived
from ivr.ports import SessionDeps

log = logging.getLogger(__name__)

REASON = "lines_busy"


async def lines_busy(conn: AudioSocketConnection, deps: SessionDeps, active: int, limit: int,
                     uuid_timeout_s: float = 5.0) -> Outcome:
    """Turn one caller away politely; returns the outcome recorded."""
    events = conn.events()
    try:
        first = await asyncio.wait_for(anext(events), uuid_timeout_s)
    except (TimeoutError, StopAsyncIteration, AudioSocketProtocolError) as exc:
        log.warning("AudioSocket %s: closing (lines busy), %s", conn.peer, exc or "no call UUID")
        return Outcome.ERROR
    if not isinstance(first, UuidReceived):
        return Outcome.ABANDONED  # gone before saying who it is
    call_uuid = str(first.uuid)
    call_uuid_var.set(call_uuid)
    text = P.LINES_BUSY if deps.agents.staffed() else P.LINES_BUSY_UNSTAFFED
    log.warning("lines busy: %d calls in the IVR (limit %d); call %s goes straight to people", active, limit,
                call_uuid)
    deps.calllog.start_call(call_uuid)
    deps.calllog.update(call_uuid, escalation_reason=REASON)
    deps.calllog.event(call_uuid, REASON, {"active": active, "limit": limit})

    pacer = Pacer(conn.send_audio)
    gone = asyncio.Event()

    async def watch() -> None:
        with contextlib.suppress(AudioSocketProtocolError):
            async for event in events:
                if isinstance(event, HangupReceived):
                    break
        gone.set()
        pacer.stop()

    watcher = asyncio.create_task(watch(), name="lines-busy-watch")
    try:
        audio = deps.prompt_cache.get(text)
        if audio:
            deps.calllog.turn(call_uuid, speaker="ivr", kind="prompt", text=text)
            await pacer.play(audio)
            await asyncio.sleep(pacer.ahead_s)  # let the last frames play out before letting go
        else:  # synthesiser down since start-up with an empty cache: hand over without the sentence
            log.warning("lines-busy prompt not in the prompt cache; handing the call over without it")
        outcome = Outcome.ABANDONED if gone.is_set() else Outcome.ESCALATED
        # The row must say "escalated" before Asterisk runs call-route, so close it before letting go.
        await deps.calllog.finish(call_uuid, outcome)
        metrics.CALLS.labels(outcome.value).inc()
        if outcome is Outcome.ESCALATED:
            metrics.ESCALATIONS.labels(REASON).inc()
            await conn.hangup()
        return outcome
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
