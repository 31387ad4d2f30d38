"""PostgreSQL stopped for 30 s during 10 live calls (the real server, `pg_ctl stop -m immediate`, then started
again on the same data), with the IVR in-process (IvrRuntime) on real TCP: FastAGI and AudioSocket driven as
Asterisk drives them, 20 ms frames in real time.

Each caller presses 1 every 3 s (the IVR answers each press with a spoken prompt), then 0 for an agent: five
callers press 12 times (their calls span the outage), five press 4 times (their calls end while the database is
down, so the dialplan's call-route runs without it).

What the caller hears: no difference — every press is answered, the transfer prompt plays, the IVR hangs up and
call-route sends the caller to the queue, outage or not.

What the database holds afterwards: every turn of every call, in the order it happened (seq 1..n without gaps or
repeats; the exact sequence greeting, (1, prompt) x n, 0, transfer), each call closed as ``escalated`` with
route ``queue`` — rows expected = rows found, zero lost, zero duplicated — and an empty spool.

What the log says: ``call log: database unavailable (OperationalError); spooling ...`` when the outage starts, and
``call log: replayed N spooled operations`` once PostgreSQL is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hotline.config import load_settings
from hotline.db import make_engine, make_sessionmaker, session_scope, upgrade
from hotline.models.calls import Call, CallEvent, CallTurn
from hotline.outcomes import Outcome
from ivr import prompts as P
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request
from ivr.runtime import IvrRuntime
from scripts.pgserver import TemporaryPostgres
from tests.ivr.conftest import espeak_speech, qa  # noqa: F401 - real engines, shared with tests/ivr

pytestmark = [pytest.mark.integration]

CALLS = 10
PRESSES = (12, 4)  # calls spanning the outage, calls ending inside it
PRESS_EVERY_S = 3.0
OUTAGE_S = 30.0


@pytest.fixture
def own_postgres() -> Iterator[TemporaryPostgres]:
    """A private server: this test stops it, which must not disturb the session's shared one."""
    with TemporaryPostgres() as pg:
        yield pg


def _presses(i: int) -> int:
    return PRESSES[i % 2]


async def _caller(host: str, agi: int, audio: int, call: CallIdentity, presses: int) -> dict[str, str]:
    await agi_request(host, agi, "call-start", [call.uuid], call)
    peer = await AudioSocketPeer.connect(host, audio, call.uuid)
    try:
        await asyncio.sleep(1.0)
        for _ in range(presses):
            peer.press("1")
            await asyncio.sleep(PRESS_EVERY_S)
        peer.press("0")
        await asyncio.wait_for(peer.hung_up_by_ivr.wait(), 30)
    finally:
        await peer.close()
    return await agi_request(host, agi, "call-route", [call.uuid], call)


def test_postgres_outage_during_ten_live_calls(own_postgres: TemporaryPostgres, espeak_speech, qa,  # noqa: F811
                                               tmp_path: Path, caplog: pytest.LogCaptureFixture):
    url = own_postgres.create_database("outage")
    upgrade(url)
    settings = replace(load_settings(env={}, var_dir=str(tmp_path / "var"), database_url=url),
                       audiosocket_port=0, agi_port=0, staffed_hours="00:00-24:00", prerender_answers=0)
    calls = [CallIdentity(caller=f"1390000{i:04d}", uniqueid=f"1800000000.{i}") for i in range(CALLS)]
    caplog.set_level(logging.INFO, logger="ivr.calllog")

    async def scenario() -> tuple[list[dict[str, str]], int, bool]:
        rt = IvrRuntime(settings, speech=espeak_speech, knowledge=qa)
        await rt.start()
        try:
            host, agi, audio = settings.bind_host, rt.agi.port, rt.audiosocket.port
            callers = [asyncio.create_task(_caller(host, agi, audio, c, _presses(i))) for i, c in enumerate(calls)]
            await asyncio.sleep(4.0)  # every call is up and talking
            await asyncio.to_thread(own_postgres.halt)
            await asyncio.sleep(OUTAGE_S)
            spooled_during = rt.calllog.spooled
            await asyncio.to_thread(own_postgres.resume)
            routes = await asyncio.gather(*callers)
            deadline = time.monotonic() + 30
            while rt.calllog.spool_path.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)  # the periodic flush, or the calls' last writes, replay the spool
            return routes, spooled_during, rt.calllog.spool_path.exists()
        finally:
            await rt.stop()

    routes, spooled, spool_left = asyncio.run(scenario())

    # The callers: every call reached the queue as if nothing had happened.
    assert [r.get("HOTLINE_ROUTE") for r in routes] == ["queue"] * CALLS
    assert spooled > 0, "the outage never reached the call log: the test did not test anything"
    assert not spool_left, "the spool was not replayed after the database came back"

    def expected(presses: int) -> list[tuple[str, str]]:
        return [("ivr", P.GREETING_STAFFED), *[("caller", "1"), ("ivr", P.NOTHING_TO_REPEAT)] * presses,
                ("caller", "0"), ("ivr", P.TRANSFERRING)]

    factory = make_sessionmaker(make_engine(url))
    found_total = unique_total = 0
    with session_scope(factory) as db:
        assert db.scalar(select(func.count(Call.id))) == CALLS
        for i, c in enumerate(calls):
            want = expected(_presses(i))
            call = db.scalar(select(Call).where(Call.call_uuid == c.uuid))
            assert call is not None, c.uuid
            turns = db.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.id)).all()
            found_total += len(turns)
            unique_total += len({t.seq for t in turns})
            # Replayed in order: insertion order (id) is the call's own order (seq), with nothing missing.
            assert [t.seq for t in turns] == list(range(1, len(want) + 1)), (c.caller, [t.seq for t in turns])
            assert [(t.speaker, t.dtmf if t.speaker == "caller" else t.text) for t in turns] == want, c.caller
            agi = Counter(e.name for e in db.scalars(select(CallEvent).where(CallEvent.call_id == call.id))
                          if e.source == "agi")
            assert agi == {"call-start": 1, "call-route": 1}, agi
            assert (call.outcome, call.route, call.escalation_reason) == (Outcome.ESCALATED.value, "queue", "dtmf_0")
            assert call.caller_number == c.caller and call.ended_at is not None and call.turn_count == _presses(i) + 1
    factory.kw["bind"].dispose()
    rows_expected = sum(len(expected(_presses(i))) for i in range(CALLS))
    print(f"\nDB outage {OUTAGE_S:.0f} s, {CALLS} calls: turn rows expected {rows_expected}, found {found_total}, "
          f"lost {rows_expected - unique_total}, duplicated {found_total - unique_total}; "
          f"{spooled} operations spooled during the outage")
    assert (found_total, unique_total) == (rows_expected, rows_expected)

    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("call log: database unavailable") and "spooling" in m for m in messages)
    assert any(m.startswith("call log: replayed") for m in messages), messages[-5:]
