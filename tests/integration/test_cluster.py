"""Beyond one box: sipp → Kamailio (dispatcher, OPTIONS probing) → two real Asterisk 22 nodes → two IVR workers
(`hotline serve --workers`) → one real PostgreSQL. Started by scripts/cluster.py on free ports.

Counted in the database: which node took each call (uniqueids carry the node's systemname), which worker held it
(call-start event), and that every row is closed exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Call, CallEvent
from hotline.outcomes import Outcome
from scripts.cluster import Cluster
from scripts.ports import free_port
from tests.integration.conftest import SIPP_DIR

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("cluster")
    c = Cluster.on_free_ports(work, workers=2, name=f"pytest{os.getpid()}", staffed_hours="00:00-23:59",
                              agent_wait_s=3,
                              env={"HOTLINE_TTS_ENGINE": "espeak", "HOTLINE_PRERENDER_ANSWERS": "0"})
    c.start(log=lambda *_: None)
    try:
        yield c
    finally:
        c.stop()


def sipp(c: Cluster, calls: int, rate: float = 2.0, workdir: Path | None = None) -> subprocess.Popen[bytes]:
    """``calls`` silent callers (8 s each, or until Asterisk hangs up) placed at Kamailio, ``rate`` per second."""
    cmd = ["sipp", "-sf", str(SIPP_DIR / "uac_proxy.xml"), "-s", "86909000", "-key", "caller", "13800138000",
           f"127.0.0.1:{c.kamailio_port}", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
           "-mp", str(free_port(socket.SOCK_DGRAM)), "-m", str(calls), "-r", str(rate), "-l", str(calls),
           "-nostdin", "-timeout", "90", "-timeout_error"]
    return subprocess.Popen(cmd, cwd=workdir or c.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finished(proc: subprocess.Popen[bytes]) -> int:
    proc.wait(120)
    return proc.returncode


def rows(c: Cluster) -> list[dict]:
    engine = make_engine(c.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            workers = {cid: (data or {}).get("worker") for cid, data in s.execute(
                select(CallEvent.call_id, CallEvent.data).where(CallEvent.name == "call-start"))}
            return [{"id": r.id, "uuid": r.call_uuid, "uniqueid": r.asterisk_uniqueid, "outcome": r.outcome,
                     "ended": r.ended_at is not None, "worker": workers.get(r.id), "error": r.error}
                    for r in s.scalars(select(Call).order_by(Call.id))]
    finally:
        engine.dispose()


def settled(c: Cluster, expected: int, timeout: float = 60) -> list[dict]:
    """The rows once ``expected`` of them exist and none is still open (h extensions run after the BYE)."""
    deadline = time.monotonic() + timeout
    while True:
        found = rows(c)
        if len(found) >= expected and all(r["outcome"] != Outcome.IN_PROGRESS.value and r["ended"] for r in found):
            return found
        if time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def per_node(c: Cluster, found: list[dict]) -> Counter:
    return Counter(next((n.instance for n in c.nodes if (r["uniqueid"] or "").startswith(n.instance)), "?")
                   for r in found)


def test_both_nodes_take_calls_and_one_stopped_mid_run_loses_no_row(cluster: Cluster):
    c = cluster
    assert finished(sipp(c, 6, rate=3)) == 0, "every call through Kamailio is answered"
    first = settled(c, 6)
    assert len(first) == 6
    nodes = per_node(c, first)
    assert all(nodes[n.instance] >= 1 for n in c.nodes), nodes  # round-robin: both nodes took calls

    # Node 1 stops while calls are up on both nodes.
    before = {r["uuid"] for r in first}
    run = sipp(c, 6, rate=3)
    time.sleep(3)
    c.stop_node(0)
    finished(run)  # calls on the stopped node end abruptly for their callers; the others finish normally
    deadline = time.monotonic() + 20
    while c.nodes_up() != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert c.dispatcher()[f"sip:127.0.0.1:{c.nodes[0].sip_port}"].startswith("I"), c.dispatcher()
    assert finished(sipp(c, 4, rate=2)) == 0, "with one node down every new call is answered by the other"
    during = settled(c, 16)
    assert len(during) == 16, f"one row per call answered: {len(during)}"
    assert len({r["uniqueid"] for r in during}) == len(during), "no call row duplicated"
    assert all(r["outcome"] != Outcome.IN_PROGRESS.value and r["ended"] for r in during), during
    last_four = [r for r in during if r["uuid"] not in before][-4:]
    assert per_node(c, last_four) == Counter({c.nodes[1].instance: 4})

    # It comes back: Kamailio's probe puts it back in rotation and it takes calls again.
    c.start_node(0)
    deadline = time.monotonic() + 20
    while c.nodes_up() != 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert c.nodes_up() == 2, c.dispatcher()
    assert finished(sipp(c, 6, rate=3)) == 0
    after = settled(c, 22)
    assert len(after) == 22 and len({r["uniqueid"] for r in after}) == 22
    assert per_node(c, after[16:])[c.nodes[0].instance] >= 1


def test_a_killed_worker_s_callers_fall_back_and_their_rows_close_failed_over(cluster: Cluster):
    c = cluster
    start_count = len(rows(c))
    group = c.groups[0]
    victim = group.worker_pid(0)
    victim_id = group.addresses()[0].rsplit(":", 1)[0]  # host:agi_port, as ivr.control.worker_id
    run = sipp(c, 8, rate=4)
    time.sleep(3.5)  # every call is in its conversation (AudioSocket) on one of the two workers
    os.kill(victim, signal.SIGKILL)
    finished(run)
    found = settled(c, start_count + 8)[start_count:]
    assert len(found) == 8 and all(r["outcome"] != Outcome.IN_PROGRESS.value and r["ended"] for r in found), found
    lost = [r for r in found if r["worker"] == victim_id]
    assert lost, "some calls were on the killed worker"
    # Closed as failed over; a caller whose fallback ended in voicemail keeps callback_requested (the message is a
    # callback task staff must act on), with the failover recorded in the row's error.
    for r in lost:
        assert r["outcome"] == Outcome.FAILED_OVER.value or (
            r["outcome"] == Outcome.CALLBACK_REQUESTED.value and "IVR" in (r["error"] or "")), r
    assert any(r["outcome"] == Outcome.FAILED_OVER.value for r in lost), lost
    # Their callers heard the dialplan's fallback (not dead air): Asterisk logged route-fallback for each of them.
    logs = "".join(n.log_file.read_text(errors="replace") for n in c.nodes)
    assert logs.count("hotline IVR unavailable") >= len(lost)
    # New calls are answered while the worker restarts (the dialplan skips a worker that refuses) and after.
    assert finished(sipp(c, 4, rate=2)) == 0
    again = settled(c, start_count + 12)[start_count + 8:]
    assert len(again) == 4 and all(r["worker"] for r in again)
