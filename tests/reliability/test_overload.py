"""More simultaneous calls than ``max_calls``: the extra callers are turned to people, nothing crashes.

What the caller hears: callers within the limit hear the greeting; each extra caller hears "您好，现在线路繁忙，
正在为您转接人工服务，请稍候。" (from the prompt cache) and Asterisk's call-route sends them to the agent queue (out
of staffed hours: "…请留下您的问题，工作人员会给您回电。" and voicemail). Once a line is free again, the next caller
gets the IVR as usual.
What the database holds: one row per call, none lost, none duplicated; the extra calls ``escalated`` with
``escalation_reason = lines_busy`` and a ``lines_busy`` event {active, limit}; the calls within the limit go on
and close as their callers chose (here: 0 for an agent, ``dtmf_0``).
What the log says: ``lines busy: 2 calls in the IVR (limit 2); call <uuid> goes straight to people``.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Call
from hotline.outcomes import Outcome
from ivr import prompts as P
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request, place_call
from tests.ivr.test_calls import load_call, wait_closed
from tests.reliability.conftest import light_speech
from tests.reliability.faults import call_until_released, heard


def _rows(url: str, uuids: list[str]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            return dict(s.execute(select(Call.call_uuid, func.count()).where(Call.call_uuid.in_(uuids))
                                  .group_by(Call.call_uuid)).all())
    finally:
        engine.dispose()


@pytest.mark.parametrize("staffed", [True, False])
def test_callers_beyond_the_limit_hear_lines_busy_and_reach_people(settings, qa, ivr_settings, running_ivr, ivr_log,
                                                                   espeak_prompts, tmp_path, staffed):
    s = ivr_settings(settings, max_calls=2, prompt_cache_dir=espeak_prompts,
                     **({} if staffed else {"staffed_hours": "00:00-00:01", "staffed_days": "mon"}))
    held = [CallIdentity(caller=f"1390000000{i}") for i in range(2)]
    extra = [CallIdentity(caller=f"1370000000{i}") for i in range(3)]
    later = CallIdentity()

    async def scenario():
        async with running_ivr(s, light_speech(s, tmp_path), qa) as rt:
            host, agi, audio = s.bind_host, rt.agi.port, rt.audiosocket.port
            peers = []
            for c in held:  # two callers in the IVR, listening to the greeting
                await agi_request(host, agi, "call-start", [c.uuid], c)
                peers.append(await AudioSocketPeer.connect(host, audio, c.uuid))
            while len(rt.sessions) < 2:
                await asyncio.sleep(0.02)
            busy = await asyncio.gather(*(call_until_released(rt, call=c) for c in extra))
            for peer in peers:  # the held callers carry on: 0 for an agent (out of hours: 0 again at the offer)
                peer.press("0")
            await asyncio.sleep(0.5)
            for peer in peers:
                peer.press("0")
            for peer in peers:
                await asyncio.wait_for(peer.hung_up_by_ivr.wait(), 30)
                await peer.close()
            held_rows = [await wait_closed(s.effective_database_url, c.uuid) for c in held]
            while rt.sessions:
                await asyncio.sleep(0.02)
            after = await place_call(host, agi, audio, dtmf="00", call=later, timeout_s=30)
            return rt, busy, held_rows, after

    rt, busy, held_rows, after = asyncio.run(scenario())
    busy_text = P.LINES_BUSY if staffed else P.LINES_BUSY_UNSTAFFED
    assert rt.turned_away == len(extra)
    for c, (route, row, audio) in zip(extra, busy, strict=True):
        assert route["HOTLINE_ROUTE"] == ("queue" if staffed else "voicemail")
        assert row.outcome == Outcome.ESCALATED.value and row.escalation_reason == "lines_busy"
        assert row.caller_number == c.caller  # call-start's details kept: the agent can call back
        _, turns, events = load_call(s.effective_database_url, c.uuid)
        assert [t.text for t in turns if t.speaker == "ivr"] == [busy_text]
        assert [e.data for e in events if e.name == "lines_busy"] == [{"active": 2, "limit": 2}]
        assert heard(audio, rt.deps.prompt_cache[busy_text])
        assert not heard(audio, rt.deps.prompt_cache[P.GREETING_STAFFED][:3200])
    for row in held_rows:  # nothing crashed for the callers already in the IVR
        assert (row.outcome, row.escalation_reason, row.error) == (Outcome.ESCALATED.value, "dtmf_0", None)
    assert after.ivr_hung_up and after.route_vars.get("HOTLINE_ROUTE") == ("queue" if staffed else "voicemail")
    later_row, later_turns, _ = load_call(s.effective_database_url, later.uuid)
    assert later_row.escalation_reason != "lines_busy"  # a free line again: the IVR took the call
    everyone = [c.uuid for c in (*held, *extra, later)]
    assert _rows(s.effective_database_url, everyone) == dict.fromkeys(everyone, 1)  # none lost, none twice
    assert len(ivr_log.matching("WARNING", "lines busy: 2 calls in the IVR (limit 2)")) == len(extra)
