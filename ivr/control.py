"""FastAGI route handlers the dialplan calls around the AudioSocket step.

    same => n,AGI(agi://127.0.0.1:4573/call-start,${CALL_UUID},${HOTLINE_RECORDING})   ; register the call
    same => n,AudioSocket(${CALL_UUID},127.0.0.1:9092)              ; the IVR dialog
    same => n,AGI(agi://127.0.0.1:4573/call-route,${CALL_UUID})   ; sets HOTLINE_ROUTE etc.
    ...  after Queue() returns:  AGI(agi://127.0.0.1:4573/call-route,${CALL_UUID},timeout,${QUEUESTATUS})
    exten => h,1,AGI(agi://127.0.0.1:4573/call-end,${CALL_UUID},${HANGUPCAUSE})

File names come relative to RECORDING_DIR (the IVR's settings.recording_dir) and are checked by ivr.recordings.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hotline.config import Settings
from hotline.models.calls import Call, CallbackTask
from hotline.outcomes import Outcome
from ivr.agi import AgiSession, SetCallerIdName
from ivr.calllog import CallLog
from ivr.escalation import QUEUE_EXITS, AgentMonitor, decide_route, hangup_cause, is_staffed
from ivr.recordings import VOICEMAIL_QUESTION, call_recording_name, voicemail_name

log = logging.getLogger(__name__)

# Extensions our own dialplan runs AGI from (a subroutine's "s", the hang-up handler's "h"): not a dialled number.
_DIALPLAN_EXTENSIONS = frozenset({"s", "h"})


def worker_id(settings: Settings) -> str:
    """This IVR process as Asterisk addresses it (FastAGI host:port): stable across restarts of the same worker,
    distinct between workers, so a restarted worker closes its own orphaned rows and never another's."""
    return f"{settings.bind_host}:{settings.agi_port}"


def _call_uuid(agi: AgiSession) -> str | None:
    """The call's UUID from the first AGI argument, or None when absent or not a UUID: a hostile or broken
    argument must never reach the database (too long for the column on PostgreSQL, it would poison the spool)."""
    if not agi.args:
        return None
    try:
        return str(uuid.UUID(agi.args[0].strip()))
    except ValueError:
        log.warning("AGI %s: ignoring a call UUID that is not a UUID: %r", agi.channel, agi.args[0][:80])
        return None


def _call_dict(session: Session, call_uuid: str) -> dict[str, Any] | None:
    call = session.scalar(select(Call).where(Call.call_uuid == call_uuid))
    if call is None:
        return None
    has_task = session.scalar(select(CallbackTask.id).where(CallbackTask.call_id == call.id)) is not None
    return {
        "outcome": call.outcome,
        "first_question": call.first_question,
        "item_code": call.item_code,
        "item_name": call.item_name,
        "caller_number": call.caller_number,
        "has_callback": has_task,
    }


def _clean_number(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if not value or value.lower() in ("unknown", "anonymous", "<unknown>") else value[:32]


def _channel_fields(agi: AgiSession) -> dict[str, Any]:
    """Who called, on which channel: the call row's identity, from the AGI environment of any step."""
    env = agi.env
    dialled = next((v for v in (env.get("agi_dnid"), env.get("agi_extension"))
                    if v and v != "unknown" and v not in _DIALPLAN_EXTENSIONS), None)
    return {
        "caller_number": _clean_number(env.get("agi_callerid")),
        "caller_name": (env.get("agi_calleridname") or "")[:80] or None,
        "dialled_number": dialled[:32] if dialled else None,
        "channel": agi.channel or None,
        "asterisk_uniqueid": agi.uniqueid or None,
        "language": env.get("agi_language") or None,
    }


class CallControl:
    """``call-start`` and ``call-route``; pass ``routes`` to FastAgiServer."""

    def __init__(self, settings: Settings, calllog: CallLog, agents: AgentMonitor) -> None:
        self.settings = settings
        self.calllog = calllog
        self.agents = agents

    @property
    def routes(self) -> dict:
        return {"call-start": self.call_start, "call-route": self.call_route,
                "call-voicemail": self.call_voicemail, "call-end": self.call_end}

    async def call_start(self, agi: AgiSession) -> None:
        call_uuid = _call_uuid(agi)
        if call_uuid is None:
            await agi.verbose("hotline call-start: missing or malformed UUID argument")
            return
        # ``call-start,UUID[,YYYYMMDD/UUID.wav]``: the MixMonitor file when the dialplan records the call.
        given = agi.args[1] if len(agi.args) > 1 else ""
        recording = call_recording_name(given, call_uuid)
        if given and recording is None:
            log.warning("call %s: ignoring a recording name of the wrong shape: %r", call_uuid, given[:80])
        extra = {"recording_path": recording} if recording else {}
        await self.calllog.update(call_uuid, **extra, **_channel_fields(agi))
        await self.calllog.event(call_uuid, "call-start", {"channel": agi.channel, "worker": worker_id(self.settings)},
                                 source="agi")
        await agi.set_variable("HOTLINE_STAFFED", "1" if is_staffed(self.settings) else "0")

    async def call_route(self, agi: AgiSession) -> None:
        call_uuid = _call_uuid(agi)
        if call_uuid is None:
            await agi.set_variable("HOTLINE_ROUTE", "queue")  # no UUID: a person must take it
            return
        after_queue = len(agi.args) > 1 and agi.args[1] == "timeout"
        try:
            call = await self.calllog.read(_call_dict, call_uuid)
        except SQLAlchemyError as exc:  # database down: route as for a call we know nothing about (a person)
            log.warning("call %s: call record unreadable (%s); routing without it", call_uuid, exc.__class__.__name__)
            call = None
        route = decide_route(call, is_staffed(self.settings), self.settings, after_queue=after_queue)
        if route.create_callback and call and not call["has_callback"]:
            await self.calllog.callback(call_uuid, call["caller_number"], call["first_question"], call["item_code"])
        fields: dict[str, Any] = {"route": route.route, "context_summary": route.context}
        data: dict[str, Any] = {"route": route.route, "after_queue": after_queue}
        if after_queue:
            # Queue() came back, so the caller did not hang up: record why (TIMEOUT...), not "abandoned".
            status = (agi.args[2] if len(agi.args) > 2 else "").strip().lower() or "timeout"
            fields["queue_state"] = status if status in QUEUE_EXITS else "timeout"
            data["queue_status"] = status
        await self.calllog.update(call_uuid, **fields)
        await self.calllog.event(call_uuid, "call-route", data, source="agi")
        # The IVR already told the caller a callback was registered; the dialplan need not say it again.
        announced = bool(call) and call["outcome"] == Outcome.CALLBACK_REQUESTED.value
        await agi.set_variable("HOTLINE_ANNOUNCED", "1" if announced else "0")
        await agi.set_variable("HOTLINE_ROUTE", route.route)
        await agi.set_variable("HOTLINE_CONTEXT", route.context)
        await agi.set_variable("HOTLINE_QUEUE", self.settings.queue_name)
        await agi.set_variable("HOTLINE_WAIT", str(route.wait_s))
        await agi.run(SetCallerIdName(route.callerid_name))
        log.info("call %s routed to %s (%s)", call_uuid, route.route, route.context)

    async def call_voicemail(self, agi: AgiSession) -> None:
        """``call-voicemail,UUID,voicemail-UUID.wav``: the caller left a message; file it as a callback task whose
        audio_path agents play in the console. A name of another shape is logged and not stored (the task is
        still filed: the caller is owed a call back)."""
        call_uuid = _call_uuid(agi)
        if call_uuid is None:
            return
        given = agi.args[1] if len(agi.args) > 1 else ""
        recording = voicemail_name(given, call_uuid)
        if recording is None:
            log.warning("call %s: voicemail file name of the wrong shape: %r", call_uuid, given[:80])
        try:
            call = await self.calllog.read(_call_dict, call_uuid)
        except SQLAlchemyError:  # database down: the task is spooled with the caller id Asterisk gave us
            call = None
        number = call["caller_number"] if call else _clean_number(agi.env.get("agi_callerid"))
        question = (call or {}).get("first_question") or VOICEMAIL_QUESTION
        self.calllog.callback(call_uuid, number, question, (call or {}).get("item_code"), audio_path=recording)
        self.calllog.update(call_uuid, outcome=Outcome.CALLBACK_REQUESTED.value)
        await self.calllog.event(call_uuid, "voicemail", {"file": recording or given[:80]}, source="agi")

    async def call_end(self, agi: AgiSession) -> None:
        """``call-end,UUID,CAUSE[,failover]`` from the h extension: the hang-up cause, and a row no IVR step closed.
        ``failover``: the worker that held the call refused, so this one closes its row as failed over."""
        call_uuid = _call_uuid(agi)
        if call_uuid is None:
            return
        raw = agi.args[1] if len(agi.args) > 1 else ""
        # ${HANGUPCAUSE} may be empty on a dead channel; the AGI environment can still carry it.
        cause = hangup_cause(raw) or hangup_cause(agi.env.get("agi_hangupcause"))
        # A caller who hangs up during Answer() never reaches call-start: this step alone leaves the call's row,
        # so it fills who called wherever call-start has not (keep: call-start's values win).
        self.calllog.update(call_uuid, keep=True, **_channel_fields(agi))
        if cause:  # "0"/empty says nothing: keep whatever AMI's Hangup event reported
            self.calllog.update(call_uuid, hangup_cause=cause)
        self.calllog.event(call_uuid, "call-end", {"cause": raw}, source="agi")
        failover = len(agi.args) > 2 and agi.args[2] == "failover"
        # Both no-ops when the call already has an outcome.
        if failover:
            await self.calllog.finish(call_uuid, Outcome.FAILED_OVER,
                                      error="IVR worker lost mid-call; Asterisk's dialplan carried the caller on")
        else:
            await self.calllog.finish(call_uuid, Outcome.ABANDONED)
