"""Call records on real SQLite and PostgreSQL: ordered writes, outage spooling and replay, crash recovery."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Call, CallbackTask, CallEvent, CallTurn
from hotline.outcomes import Outcome
from ivr.calllog import CallLog
from scripts.ports import free_port


def _log(url: str, tmp_path: Path) -> CallLog:
    return CallLog(make_sessionmaker(make_engine(url)), tmp_path / "spool" / "calllog.jsonl", retry_delay_s=0.01)


def _call(url: str, call_uuid: str) -> tuple[Call, list[CallTurn], list[CallEvent], list[CallbackTask]]:
    factory = make_sessionmaker(make_engine(url))
    with session_scope(factory) as s:
        call = s.scalar(select(Call).where(Call.call_uuid == call_uuid))
        assert call is not None, call_uuid
        turns = list(s.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.seq)))
        events = list(s.scalars(select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)))
        tasks = list(s.scalars(select(CallbackTask).where(CallbackTask.call_id == call.id)))
        factory.kw["bind"].dispose()
        return call, turns, events, tasks


def test_a_call_record_on_both_databases(db_url, tmp_path):
    log = _log(db_url, tmp_path)

    async def scenario():
        await log.update("u-1", caller_number="13800138000", channel="PJSIP/x-1")  # call-start AGI first
        await log.start_call("u-1")
        log.turn("u-1", speaker="caller", kind="speech", text="犬证怎么办理", asr_confidence=0.8,
                 latency_ms={"asr": 900.0, "total": 1200.0})
        log.turn("u-1", speaker="ivr", kind="answer", text="养犬登记证……")
        log.turn("u-1", speaker="caller", kind="speech", text="那要多少钱", asr_confidence=0.6)
        log.event("u-1", "escalate", {"reason": "dtmf_0"})
        log.update("u-1", keep=True, first_question="犬证怎么办理", item_code="GA-001")
        log.update("u-1", keep=True, first_question="那要多少钱")  # first value wins
        log.callback("u-1", None, "犬证怎么办理", "GA-001")
        await log.finish("u-1", Outcome.CALLBACK_REQUESTED)
        await log.finish("u-1", Outcome.ERROR, "late duplicate")  # a closed call is not reopened

    asyncio.run(scenario())
    log.close()
    call, turns, events, tasks = _call(db_url, "u-1")
    assert call.caller_number == "13800138000" and call.channel == "PJSIP/x-1"
    assert call.outcome == Outcome.CALLBACK_REQUESTED.value and call.ended_at is not None and call.error is None
    assert [t.seq for t in turns] == [1, 2, 3]
    assert [t.text for t in turns] == ["犬证怎么办理", "养犬登记证……", "那要多少钱"]
    assert turns[0].latency_ms == {"asr": 900.0, "total": 1200.0}
    assert call.turn_count == 2 and call.min_confidence == 0.6
    assert call.first_question == "犬证怎么办理" and call.item_code == "GA-001"
    assert [e.name for e in events] == ["escalate"]
    assert tasks[0].number == "13800138000" and tasks[0].question == "犬证怎么办理"


def test_database_outage_spools_and_replays_in_order(sqlite_url, tmp_path):
    down_url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=1"
    log = _log(down_url, tmp_path)

    async def during_outage():
        await log.start_call("u-2")
        log.turn("u-2", speaker="caller", kind="speech", text="市民卡丢了")
        await log.finish("u-2", Outcome.ABANDONED)

    asyncio.run(during_outage())
    assert log.spooled == 3
    lines = log.spool_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["op"] for x in lines] == ["update", "turn", "finish"]

    # The database is back: the next write replays the spool first, then itself.
    log._factory = make_sessionmaker(make_engine(sqlite_url))

    async def after():
        await log.event("u-2", "late")

    asyncio.run(after())
    log.close()
    assert not log.spool_path.exists()
    call, turns, events, _ = _call(sqlite_url, "u-2")
    assert call.outcome == Outcome.ABANDONED.value
    assert [t.text for t in turns] == ["市民卡丢了"]
    assert [e.name for e in events] == ["late"]


def test_restart_replays_spool_and_fails_over_crashed_calls(sqlite_url, tmp_path):
    log = _log(sqlite_url, tmp_path)

    async def crashed():
        await log.start_call("u-3")  # never finished: the process died
        await log.update("u-3", asterisk_uniqueid="1700000000.3")
        await log.start_call("u-7")  # its channel is still up in Asterisk's dialplan
        await log.update("u-7", asterisk_uniqueid="1700000000.7")

    asyncio.run(crashed())
    log.spool_path.parent.mkdir(parents=True, exist_ok=True)
    log.spool_path.write_text(
        json.dumps({"op": "update", "uuid": "u-4", "fields": {"caller_number": "110"}, "keep": False,
                    "at": "2026-11-30T08:00:00+00:00"}) + "\nnot json\n",
        encoding="utf-8",
    )
    assert log.replay_spool()
    assert sorted(u for u, _ in log.open_calls()) == ["u-3", "u-4", "u-7"]
    assert log.close_orphans(live={"1700000000.7", "1700000000.99"}) == (2, 1)  # u-3, u-4 gone; u-7 live
    assert [u for u, _ in log.open_calls()] == ["u-7"]  # still open until its hang-up is reported

    async def hang_up_later():
        await log.finish("u-7", Outcome.ABANDONED)  # the dialplan's call-end, to the new process

    asyncio.run(hang_up_later())
    assert log.open_calls() == []
    log.close()
    call, _, events, _ = _call(sqlite_url, "u-3")
    assert call.outcome == Outcome.FAILED_OVER.value and call.ended_at is not None
    assert "already ended" in call.error and [e.name for e in events] == ["failed_over"]
    live, _, events, _ = _call(sqlite_url, "u-7")
    assert live.outcome == Outcome.FAILED_OVER.value and live.ended_at is not None  # outcome kept, end recorded
    assert "carried the caller on" in live.error and events[0].data == {"channel_live": True}
    replayed = _call(sqlite_url, "u-4")[0]
    assert replayed.caller_number == "110"
    assert replayed.started_at.replace(tzinfo=None) == datetime(2026, 11, 30, 8, 0)  # when it happened, not replayed
    assert not log.spool_path.exists()


def test_without_ami_crashed_calls_are_closed_anyway(sqlite_url, tmp_path):
    log = _log(sqlite_url, tmp_path)

    async def crashed():
        await log.start_call("u-8")

    asyncio.run(crashed())
    assert log.close_orphans(live=None) == (1, 0)
    log.close()
    call, *_ = _call(sqlite_url, "u-8")
    assert call.outcome == Outcome.FAILED_OVER.value and call.ended_at is not None and "AMI down" in call.error


def test_writes_return_at_once_and_run_off_the_event_loop(sqlite_url, tmp_path):
    log = _log(sqlite_url, tmp_path)
    seen: list[str] = []

    async def scenario():
        import threading

        fut = log.start_call("u-5")
        assert isinstance(fut, asyncio.Future)  # queued, not awaited yet
        await fut
        seen.append(await log.read(lambda s: threading.current_thread().name))

    asyncio.run(scenario())
    log.close()
    assert seen[0].startswith("calllog")


def test_ami_event_updates_call_by_uniqueid(sqlite_url, tmp_path):
    log = _log(sqlite_url, tmp_path)

    async def scenario():
        await log.update("u-6", asterisk_uniqueid="1700000000.1")
        await log.ami_event("1700000000.1", "AgentConnect", {"MemberName": "agent1"},
                            {"queue_state": "connected", "agent": "agent1"})
        await log.ami_event("9999.9", "Newchannel", {"Channel": "PJSIP/other"})  # not one of ours: still kept

    asyncio.run(scenario())
    log.close()
    call, _, events, _ = _call(sqlite_url, "u-6")
    assert call.queue_state == "connected" and call.agent == "agent1"
    assert [e.name for e in events] == ["AgentConnect"]
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        orphan = s.scalar(select(CallEvent).where(CallEvent.asterisk_uniqueid == "9999.9"))
        assert orphan is not None and orphan.call_id is None and orphan.source == "ami"


def test_a_restarted_worker_closes_only_its_own_rows(db_url, tmp_path):
    """Several workers share one database: worker A's restart must not close worker B's live call."""
    log = _log(db_url, tmp_path)

    async def calls():
        for uuid, worker in (("w-a", "127.0.0.1:4573"), ("w-b", "127.0.0.1:4574")):
            await log.start_call(uuid)
            await log.event(uuid, "call-start", {"channel": "PJSIP/x", "worker": worker}, source="agi")
        await log.start_call("w-none")  # no call-start claimed it (e.g. an old row): the restart closes it

    asyncio.run(calls())
    assert sorted(u for u, _ in log.open_calls("127.0.0.1:4573")) == ["w-a", "w-none"]
    assert log.close_orphans(live=set(), worker="127.0.0.1:4573") == (2, 0)
    log.close()
    assert _call(db_url, "w-a")[0].outcome == Outcome.FAILED_OVER.value
    assert _call(db_url, "w-none")[0].outcome == Outcome.FAILED_OVER.value
    assert _call(db_url, "w-b")[0].outcome == Outcome.IN_PROGRESS.value



def test_a_call_sent_back_to_the_ivr_continues_its_turn_numbers(db_url, tmp_path):
    """An agent sends the caller back to the IVR, or another worker takes the call over: a second session writes
    turns for the same call, yet the transcript must read in order, with no two turns sharing a number."""
    first, second = _log(db_url, tmp_path / "a"), _log(db_url, tmp_path / "b")

    async def scenario():
        await first.start_call("u-back")
        first.turn("u-back", speaker="caller", kind="speech", text="犬证怎么办理")
        await first.turn("u-back", speaker="ivr", kind="answer", text="养犬登记证……")
        second.turn("u-back", speaker="ivr", kind="prompt", text="您好，请问还有什么可以帮您？")
        await second.turn("u-back", speaker="caller", kind="speech", text="那要多少钱")

    asyncio.run(scenario())
    first.close()
    second.close()
    _, turns, _, _ = _call(db_url, "u-back")
    assert [(t.seq, t.text) for t in turns] == [(1, "犬证怎么办理"), (2, "养犬登记证……"),
                                                (3, "您好，请问还有什么可以帮您？"), (4, "那要多少钱")]
