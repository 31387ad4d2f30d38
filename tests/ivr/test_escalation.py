"""Staffed hours, the dialplan route decision, and agent availability / queue events through a real AMI socket."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import pytest
from sqlalchemy import select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Call, CallEvent
from hotline.outcomes import Outcome
from ivr.ami import AmiClient, AmiMessage
from ivr.calllog import CallLog
from ivr.escalation import AgentMonitor, decide_route, is_staffed, queue_fields, staffed_days
from tests.ivr.ami_peer import AmiPeer

# ---- pure parts ----


@pytest.mark.parametrize(("spec", "days"), [("mon-sun", set(range(7))), ("mon-fri", {0, 1, 2, 3, 4}),
                                            ("sat,sun", {5, 6}), ("fri-mon", {4, 5, 6, 0})])
def test_staffed_days(spec, days):
    assert staffed_days(spec) == days


@pytest.mark.parametrize(("when", "staffed"), [
    (datetime(2026, 11, 30, 7, 59), False),  # Monday, before 08:00
    (datetime(2026, 11, 30, 8, 0), True),
    (datetime(2026, 11, 30, 19, 59), True),
    (datetime(2026, 11, 30, 20, 0), False),
    (datetime(2026, 12, 5, 10, 0), False),  # Saturday with mon-fri
])
def test_is_staffed(settings, when, staffed):
    s = dataclasses.replace(settings, staffed_hours="08:00-20:00", staffed_days="mon-fri")
    assert is_staffed(s, when) is staffed


def _row(outcome, **kw):
    return {"outcome": outcome, "first_question": "犬证怎么办理", "item_code": "GA-001", "item_name": "养犬登记证核发",
            "caller_number": "13800138000", **kw}


def test_route_for_escalated_call_in_hours_is_the_queue(settings):
    r = decide_route(_row(Outcome.ESCALATED.value), True, settings)
    assert (r.route, r.callerid_name, r.wait_s) == ("queue", "养犬登记证核发", settings.agent_wait_s)
    assert r.context == "养犬登记证核发：犬证怎么办理"


def test_route_after_queue_timeout_is_a_callback(settings):
    r = decide_route(_row(Outcome.ESCALATED.value), True, settings, after_queue=True)
    assert r.route == "callback" and r.create_callback
    r = decide_route(_row(Outcome.ESCALATED.value, caller_number=None), True, settings, after_queue=True)
    assert r.route == "voicemail" and not r.create_callback


@pytest.mark.parametrize(("row", "staffed", "route"), [
    (None, True, "queue"),  # the IVR never saw the call: a person takes it
    (None, False, "voicemail"),
    ("error", True, "queue"),  # the IVR broke: a person takes it
    ("escalated", False, "voicemail"),
    ("callback_requested", True, "callback"),
    ("answered_by_ivr", True, "hangup"),
    ("booked", True, "hangup"),
    ("abandoned", True, "hangup"),
])
def test_route_table(settings, row, staffed, route):
    assert decide_route(_row(row) if row else None, staffed, settings).route == route


def test_queue_fields_from_ami_events():
    def msg(*items):
        return AmiMessage(tuple(items))

    assert queue_fields(msg(("Event", "QueueCallerJoin"), ("Uniqueid", "1.1")))["queue_state"] == "waiting"
    assert queue_fields(msg(("Event", "AgentConnect"), ("MemberName", "张三"))) == {"queue_state": "connected",
                                                                                  "agent": "张三"}
    assert queue_fields(msg(("Event", "Hangup"), ("Cause", "16"), ("Cause-txt", "Normal Clearing"))) == {
        "hangup_cause": "16 Normal Clearing"}
    assert queue_fields(msg(("Event", "Newchannel"))) == {}
    assert queue_fields(msg(("Event", "Hangup"), ("Cause", "0"), ("Cause-txt", "Unknown"))) == {}


# ---- over a real AMI socket ----


def _monitor(settings, port: int, calllog: CallLog) -> AgentMonitor:
    monitor = AgentMonitor(settings, calllog)
    monitor.ami = AmiClient("127.0.0.1", port, "hotline", "x", on_event=monitor.on_event, action_timeout_s=2,
                            backoff_min_s=0.05, backoff_max_s=0.2)
    return monitor


@pytest.mark.parametrize(("available", "free"), [(2, True), (0, False)])
def test_agents_free_from_queue_summary(settings, available, free):
    s = dataclasses.replace(settings, staffed_hours="00:00-24:00")

    async def scenario():
        peer = AmiPeer(secret=None, available=available)
        port = await peer.start()
        calllog = CallLog.from_settings(s)
        monitor = _monitor(s, port, calllog)
        await monitor.start()
        await monitor.ami.wait_connected(5)
        status = await monitor.status()
        await monitor.stop()
        await peer.stop()
        calllog.close()
        return status

    status = asyncio.run(scenario())
    assert status.staffed and status.free is free


def test_ami_down_means_unknown_not_an_error(settings):
    s = dataclasses.replace(settings, staffed_hours="00:00-24:00", ami_secret="x", ami_port=1)

    async def scenario():
        calllog = CallLog.from_settings(s)
        monitor = AgentMonitor.from_settings(s, calllog)
        await monitor.start()
        status = await monitor.status()
        await monitor.stop()
        calllog.close()
        return status

    status = asyncio.run(scenario())
    assert status.staffed and status.free is None


def test_queue_events_are_recorded_on_the_call(settings):
    s = settings

    async def scenario():
        peer = AmiPeer(secret=None, available=1)
        port = await peer.start()
        calllog = CallLog.from_settings(s)
        await calllog.update("u-q", asterisk_uniqueid="1764500000.7")
        monitor = _monitor(s, port, calllog)
        await monitor.start()
        await monitor.ami.wait_connected(5)
        for items in (
            [("Event", "QueueCallerJoin"), ("Uniqueid", "1764500000.7"), ("Queue", "hotline-agents"),
             ("Position", "1")],
            [("Event", "AgentCalled"), ("Uniqueid", "1764500000.7"), ("MemberName", "agent1")],
            [("Event", "AgentConnect"), ("Uniqueid", "1764500000.7"), ("MemberName", "agent1"), ("HoldTime", "7")],
            [("Event", "VarSet"), ("Uniqueid", "1764500000.7")],  # not interesting: not stored
            [("Event", "Hangup"), ("Uniqueid", "1764500000.7"), ("Cause", "16"), ("Cause-txt", "Normal Clearing")],
        ):
            await peer.event(*items)
        await asyncio.sleep(0.5)
        await monitor.stop()
        await peer.stop()
        await asyncio.get_running_loop().run_in_executor(None, calllog.close)

    asyncio.run(scenario())
    engine = make_engine(s.effective_database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        call = session.scalar(select(Call).where(Call.call_uuid == "u-q"))
        events = list(session.scalars(select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)))
        assert [e.name for e in events] == ["QueueCallerJoin", "AgentCalled", "AgentConnect", "Hangup"]
        assert events[2].data["HoldTime"] == "7"
        assert call.queue_state == "connected" and call.agent == "agent1"
        assert call.queue_joined_at is not None and call.hangup_cause == "16 Normal Clearing"
    engine.dispose()


# ---- AMI and the dialplan together (findings from real-Asterisk calls) ----


def _ivr_with_ami(settings, port: int):
    return dataclasses.replace(settings, audiosocket_port=0, agi_port=0, staffed_hours="00:00-24:00",
                               ami_port=port, ami_secret="x")


def _call_and_events(url: str, call_uuid: str) -> tuple[Call, list[str]]:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            call = session.scalar(select(Call).where(Call.call_uuid == call_uuid))
            names = list(session.scalars(select(CallEvent.name).where(CallEvent.call_id == call.id)
                                         .order_by(CallEvent.id)))
            session.expunge(call)
            return call, names
    finally:
        engine.dispose()


def test_queue_timeout_is_not_an_abandon_and_early_events_join_the_call(settings, espeak_speech, qa, running_ivr):
    """Asterisk 22 sends Newchannel before call-start, and QueueCallerAbandon on a queue *timeout*; a caller who
    really hangs up in the queue is the only "abandoned" one. Hang-up causes: "0 Unknown" never wins."""
    from ivr.harness import CallIdentity, agi_request

    timed_out, gave_up = CallIdentity(caller="13700001111"), CallIdentity(caller="13700002222")

    async def scenario():
        peer = AmiPeer(secret=None, available=0)
        port = await peer.start()
        s = _ivr_with_ami(settings, port)
        try:
            async with running_ivr(s, espeak_speech, qa, prerender=False) as rt:
                await rt.monitor.ami.wait_connected(5)
                host, agi = s.bind_host, rt.agi.port

                async def ami(name, call, *items):
                    await peer.event(("Event", name), ("Uniqueid", call.uniqueid), *items)
                    await asyncio.sleep(0.05)

                for c in (timed_out, gave_up):  # the channel exists before the dialplan's first AGI
                    await ami("Newchannel", c, ("Channel", c.channel))
                await asyncio.sleep(0.3)
                for c in (timed_out, gave_up):
                    await agi_request(host, agi, "call-start", [c.uuid], c)
                    await ami("QueueCallerJoin", c, ("Queue", "hotline-agents"), ("Position", "1"))
                # Queue() timed out: AMI says "abandon" first, then the dialplan asks for a route.
                await ami("QueueCallerAbandon", timed_out, ("Queue", "hotline-agents"))
                route = await agi_request(host, agi, "call-route", [timed_out.uuid, "timeout", "TIMEOUT"], timed_out)
                await ami("QueueCallerLeave", timed_out, ("Queue", "hotline-agents"))
                await ami("QueueCallerAbandon", timed_out)  # a late duplicate must not undo the verdict
                await ami("Hangup", timed_out, ("Cause", "0"), ("Cause-txt", "Unknown"))
                await agi_request(host, agi, "call-end", [timed_out.uuid, "16"], timed_out)
                # The other caller hangs up while waiting: a real abandon; AMI's cause arrives after call-end.
                await ami("QueueCallerAbandon", gave_up, ("Queue", "hotline-agents"))
                await agi_request(host, agi, "call-end", [gave_up.uuid, ""], gave_up)
                await ami("Hangup", gave_up, ("Cause", "16"), ("Cause-txt", "Normal Clearing"))
                await asyncio.sleep(0.5)
                return s, route
        finally:
            await peer.stop()

    s, route = asyncio.run(scenario())
    assert route["HOTLINE_ROUTE"] == "callback"
    call, names = _call_and_events(s.effective_database_url, timed_out.uuid)
    assert call.queue_state == "timeout"
    assert call.hangup_cause == "16 Normal Clearing"
    assert names[0] == "Newchannel", names  # stored before call-start, attached once the uniqueid was known
    assert {"call-start", "QueueCallerJoin", "QueueCallerAbandon", "call-route", "Hangup", "call-end"} <= set(names)
    call, names = _call_and_events(s.effective_database_url, gave_up.uuid)
    assert call.queue_state == "abandoned" and call.outcome == Outcome.ABANDONED.value
    assert call.hangup_cause == "16 Normal Clearing"
    assert names[:2] == ["Newchannel", "call-start"]


@pytest.mark.parametrize(("code", "text", "expected"), [
    ("16", "Normal Clearing", "16 Normal Clearing"), ("16", "", "16 Normal Clearing"), ("17", None, "17 User busy"),
    ("0", "Unknown", None), ("", "", None), ("abc", "", None), ("99", "", "99"),
])
def test_hangup_cause_text(code, text, expected):
    from ivr.escalation import hangup_cause

    assert hangup_cause(code, text) == expected
