"""Handing calls to people: staffed hours, agent availability (AMI), the route the dialplan takes, queue events.

Losing AMI never drops a call: availability becomes "unknown" and the caller is still queued, with the
configurable ``agent_wait_s`` as the queue timeout, after which the dialplan asks ``call-route`` again and the
caller is offered a callback instead of an endless queue.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.config import Settings, staffed_minutes
from hotline.models.base import utcnow
from hotline.outcomes import Outcome
from ivr.ami import AmiClient, AmiMessage, AmiUnavailable
from ivr.calllog import CallLog
from ivr.flow import AgentStatus

log = logging.getLogger(__name__)

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

ROUTE_QUEUE = "queue"
ROUTE_CALLBACK = "callback"
ROUTE_VOICEMAIL = "voicemail"
ROUTE_HANGUP = "hangup"

# AMI events kept as CallEvent rows, and what each says about the call's place in the queue.
QUEUE_STATES = {
    "QueueCallerJoin": "waiting",
    "AgentCalled": "ringing",
    "AgentConnect": "connected",
    "AgentComplete": "completed",
    "QueueCallerAbandon": "abandoned",
}
RECORDED_EVENTS = frozenset({"Newchannel", "Hangup", "QueueCallerLeave", "AgentRingNoAnswer", *QUEUE_STATES})
# Why Queue() returned without an agent (${QUEUESTATUS}, passed by the dialplan to call-route): Asterisk 22 also
# sends QueueCallerAbandon on a timeout, so these verdicts outrank "abandoned" (see calllog.apply).
QUEUE_EXITS = frozenset({"timeout", "full", "joinempty", "leaveempty", "joinunavail", "leaveunavail", "continue"})

# Q.850 causes a hotline sees, so a dialplan's bare ${HANGUPCAUSE} reads like AMI's "Cause Cause-txt".
_CAUSES = {
    1: "Unallocated (unassigned) number", 3: "No route to destination", 16: "Normal Clearing",
    17: "User busy", 18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected",
    27: "Destination out of order", 31: "Normal, unspecified", 34: "Circuit/channel congestion",
    38: "Network out of order", 41: "Temporary failure", 42: "Switching equipment congestion",
    127: "Interworking, unspecified",
}


def hangup_cause(code: str | None, text: str | None = None) -> str | None:
    """'16' -> '16 Normal Clearing'; None when the cause says nothing (empty, 0, "Unknown")."""
    code = (code or "").strip()
    text = (text or "").strip()
    if not code.isdigit() or int(code) == 0:
        return None
    if not text or text.lower() == "unknown":
        text = _CAUSES.get(int(code), "")
    return f"{int(code)} {text}".strip()[:64]


def staffed_days(spec: str) -> set[int]:
    """'mon-fri' / 'mon-sun' / 'mon,wed,fri' -> weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            a, b = (_DAYS.index(x) for x in part.split("-"))
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part:
            days.add(_DAYS.index(part))
    return days


def is_staffed(settings: Settings, now: datetime | None = None) -> bool:
    """Agents on duty at local time ``now`` (settings.staffed_hours on settings.staffed_days)."""
    now = now or datetime.now()
    start, end = staffed_minutes(settings)
    minute = now.hour * 60 + now.minute
    return now.weekday() in staffed_days(settings.staffed_days) and start <= minute < end


@dataclass(frozen=True)
class Route:
    """Channel variables for the dialplan after the IVR step."""

    route: str  # queue | callback | voicemail | hangup
    context: str  # HOTLINE_CONTEXT: item + question, short
    callerid_name: str  # what the agent's phone shows
    wait_s: int  # queue timeout before the callback offer
    create_callback: bool = False


def context_summary(item_name: str | None, question: str | None, limit: int = 60) -> str:
    parts = [p for p in (item_name, question) if p]
    return "：".join(parts)[:limit] or "未识别问题"


def decide_route(call: dict[str, Any] | None, staffed: bool, settings: Settings, after_queue: bool = False) -> Route:
    """Where the dialplan sends the caller once the IVR let go. ``call`` is the Call row as a dict (or None when
    the IVR never saw the call: then a person must take it, or voicemail out of hours)."""
    call = call or {}
    outcome = call.get("outcome")
    name = (call.get("item_name") or call.get("item_code") or "热线来电")[:20]
    ctx = context_summary(call.get("item_name") or call.get("item_code"), call.get("first_question"))
    wait = settings.agent_wait_s
    has_number = bool(call.get("caller_number"))
    if outcome == Outcome.CALLBACK_REQUESTED.value:
        return Route(ROUTE_CALLBACK, ctx, name, wait)
    if outcome in (Outcome.ESCALATED.value, Outcome.ERROR.value, Outcome.FAILED_OVER.value, Outcome.IN_PROGRESS.value,
                   None):
        if after_queue:  # waited agent_wait_s without an agent
            return Route(ROUTE_CALLBACK if has_number else ROUTE_VOICEMAIL, ctx, name, wait, create_callback=has_number)
        return Route(ROUTE_QUEUE if staffed else ROUTE_VOICEMAIL, ctx, name, wait)
    return Route(ROUTE_HANGUP, ctx, name, wait)


def queue_fields(msg: AmiMessage) -> dict[str, Any]:
    """Call-row fields an AMI event implies."""
    name = msg.event or ""
    fields: dict[str, Any] = {}
    if name in QUEUE_STATES:
        fields["queue_state"] = QUEUE_STATES[name]
    if name == "QueueCallerJoin":
        fields["queue_joined_at"] = utcnow()
    if name == "AgentConnect":
        fields["agent"] = (msg.get("MemberName") or msg.get("Interface") or msg.get("DestChannel") or "")[:64]
    if name == "Hangup":
        cause = hangup_cause(msg.get("Cause"), msg.get("Cause-txt"))
        if cause:  # "0 Unknown" carries nothing; never let it replace the dialplan's HANGUPCAUSE
            fields["hangup_cause"] = cause
    return fields


class AgentMonitor:
    """Agent availability and queue events through AMI; every method works (degraded) without AMI."""

    def __init__(self, settings: Settings, calllog: CallLog, ami: AmiClient | None = None) -> None:
        self.settings = settings
        self.calllog = calllog
        self.ami = ami
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, calllog: CallLog) -> AgentMonitor:
        monitor = cls(settings, calllog)
        if settings.ami_secret:
            monitor.ami = AmiClient(settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
                                    on_event=monitor.on_event, action_timeout_s=2.0)
        return monitor

    async def start(self) -> None:
        if self.ami is not None:
            await self.ami.start()

    async def stop(self) -> None:
        if self.ami is not None:
            await self.ami.stop()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def agents_free(self) -> bool | None:
        """True/False from QueueSummary; None when AMI is down or does not know the queue."""
        if self.ami is None:
            return None
        try:
            resp = await asyncio.wait_for(self.ami.action("QueueSummary", Queue=self.settings.queue_name), 2.0)
        except (AmiUnavailable, TimeoutError) as exc:
            log.info("agent availability unknown: %s", exc)
            return None
        for ev in resp.events:
            if (ev.get("Queue") or "") == self.settings.queue_name:
                try:
                    return int(ev.get("Available") or 0) > 0
                except ValueError:
                    return None
        return None

    async def live_channels(self, wait_s: float = 5.0) -> set[str] | None:
        """Uniqueids of every channel Asterisk has now (CoreShowChannels); None when AMI cannot tell us."""
        if self.ami is None or not await self.ami.wait_connected(wait_s):
            return None
        try:
            resp = await asyncio.wait_for(self.ami.action("CoreShowChannels"), wait_s)
        except (AmiUnavailable, TimeoutError) as exc:
            log.warning("live channels unknown: %s", exc)
            return None
        if not resp.ok:
            log.warning("live channels unknown: CoreShowChannels refused: %s", resp.text)
            return None
        return {ev.get("Uniqueid") or "" for ev in resp.events} - {""}

    def staffed(self, now: datetime | None = None) -> bool:
        return is_staffed(self.settings, now)

    async def status(self, now: datetime | None = None) -> AgentStatus:
        staffed = is_staffed(self.settings, now)
        return AgentStatus(staffed=staffed, free=await self.agents_free() if staffed else False)

    async def on_event(self, msg: AmiMessage) -> None:
        name = msg.event or ""
        if name not in RECORDED_EVENTS:
            return
        keep = ("Channel", "Uniqueid", "Queue", "Position", "MemberName", "Interface", "Cause", "Cause-txt",
                "HoldTime", "TalkTime", "Reason", "CallerIDNum", "Exten")
        data = {k: msg.get(k) for k in keep if msg.get(k) is not None}
        await self.calllog.ami_event(msg.get("Uniqueid"), name, data, queue_fields(msg))
