"""Real Asterisk 22 + our dialplans + our FastAGI/AudioSocket/AMI code + sipp calling 86909000."""

from __future__ import annotations

import array
import asyncio
import functools
import math
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models import Call
from ivr.agi import AgiSession, FastAgiServer, GetVariable, SetCallerIdName
from ivr.ami import AmiClient, AmiMessage
from ivr.audiosocket import AudioReceived, AudioSocketConnection, AudioSocketServer, Pacer, UuidReceived
from scripts.sandbox import Sandbox, boot_problems, rx

pytestmark = pytest.mark.integration


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 90))

    return wrapper


def test_dialplan_is_loaded_without_errors(asterisk: Sandbox):
    shown = rx(asterisk, "dialplan show 86909000@from-test-phones")
    assert "'86909000'" in shown and "Goto(hotline,s,1)" in shown
    trunk = rx(asterisk, "dialplan show 86909000@from-trunk")
    assert "Goto(hotline,s,1)" in trunk
    main = rx(asterisk, "dialplan show s@hotline")
    for step in ("Answer()", "Set(__CALL_UUID=${UUID()})", "Gosub(hotline-ivr-pick,s,1)",
                 "AudioSocket(${CALL_UUID},${IVR_HOST}:${AUDIOSOCKET_PORT})", "/call-route,${CALL_UUID})"):
        assert step in main, step
    assert "/call-start,${CALL_UUID},${HOTLINE_RECORDING})" in rx(asterisk, "dialplan show s@hotline-ivr-pick")
    globals_ = rx(asterisk, "dialplan show globals")
    assert f"AGI_PORT={asterisk.agi_port}" in globals_
    assert f"AUDIOSOCKET_PORT={asterisk.audiosocket_port}" in globals_
    assert f"127.0.0.1:{asterisk.sip_port}" in rx(asterisk, "pjsip show transports")
    assert "hotline-agents" in rx(asterisk, "queue show hotline-agents")
    assert boot_problems(asterisk) == []


@dataclass
class FakeIvr:
    """A minimal stand-in for the real runtime: records calls in the database, routes as told."""

    db_url: str
    route: str = "hangup"
    starts: list[dict[str, str]] = field(default_factory=list)
    routes: list[list[str]] = field(default_factory=list)
    callbacks: list[dict[str, object]] = field(default_factory=list)
    audio: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sessions = make_sessionmaker(make_engine(self.db_url))

    async def call_start(self, session: AgiSession) -> None:
        self.starts.append(dict(session.env, args=session.args))
        with session_scope(self.sessions) as db:
            db.add(Call(
                call_uuid=session.args[0],
                asterisk_uniqueid=session.uniqueid,
                caller_number=session.env.get("agi_callerid"),
                dialled_number=session.env.get("agi_dnid"),
                channel=session.channel,
            ))

    async def call_route(self, session: AgiSession) -> None:
        self.routes.append(session.args)
        if session.args[1:2] == ["timeout"]:  # back from Queue() without an agent
            self.callbacks.append({
                "name": await session.run(GetVariable("CALLERID(name)")),
                "context": await session.get_variable("HOTLINE_CONTEXT"),
            })
            await session.set_variable("HOTLINE_ROUTE", "callback")
            return
        await session.run(SetCallerIdName("户籍咨询"))
        await session.set_variable("HOTLINE_CONTEXT", "item=HJ001")
        await session.set_variable("HOTLINE_ROUTE", self.route)

    async def on_audio(self, conn: AudioSocketConnection) -> None:
        frames: list[bytes] = []
        pacer = Pacer(conn.send_audio)
        tone = array.array("h", (int(8000 * math.sin(2 * math.pi * 600 * i / 8000)) for i in range(8000))).tobytes()
        playing = asyncio.create_task(pacer.play(tone))
        async for event in conn.events():
            if isinstance(event, UuidReceived):
                self.audio["uuid"] = str(event.uuid)
            if isinstance(event, AudioReceived):
                frames.append(event.pcm)
                if len(frames) == 40:  # 0.8 s of the caller's tone heard: done talking
                    break
        pacer.stop()
        await playing
        self.audio["frames"] = len(frames)
        self.audio["rms"] = max(_rms(f) for f in frames) if frames else 0.0
        await conn.hangup()

    def servers(self, sb: Sandbox) -> tuple[FastAgiServer, AudioSocketServer]:
        routes = {"call-start": self.call_start, "call-route": self.call_route}
        return FastAgiServer("127.0.0.1", sb.agi_port, routes), AudioSocketServer(
            "127.0.0.1", sb.audiosocket_port, self.on_audio)


def _rms(pcm: bytes) -> float:
    samples = array.array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples))


async def _run_sipp(command: list[str], cwd) -> tuple[int, str]:  # noqa: ANN001
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace")


async def _until(predicate, timeout: float = 5.0) -> bool:  # noqa: ANN001
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@aio
async def test_call_reaches_our_agi_audiosocket_and_ami(asterisk: Sandbox, caller, sqlite_url):  # noqa: ANN001
    ivr = FakeIvr(sqlite_url, route="hangup")
    agi, audio = ivr.servers(asterisk)
    events: list[AmiMessage] = []
    ami = AmiClient("127.0.0.1", asterisk.ami_port, "hotline", asterisk.ami_secret, events.append)
    await agi.start()
    await audio.start()
    await ami.start()
    try:
        assert await ami.wait_connected(10), "our AMI user could not log in"
        caller.wav(seconds=3, freq=440)
        code, err = await _run_sipp(caller.command(), caller.workdir)
        assert code == 0, err  # the hotline hung up on its own (route=hangup) and sipp saw a clean BYE
        [start] = ivr.starts
        uniqueid = start["agi_uniqueid"]
        assert await _until(lambda: any(e.event == "Hangup" and e.get("Uniqueid") == uniqueid for e in events))
    finally:
        await ami.stop()
        await audio.stop()
        await agi.stop()

    call_uuid = start["args"][0]
    assert uuid.UUID(call_uuid)
    assert start["agi_network_script"] == "call-start"
    assert start["agi_callerid"] == "13800138000"
    assert start["agi_dnid"] == "86909000"
    # the same id flowed through AGI and AudioSocket, and the caller's RTP reached us as real audio
    assert ivr.audio["uuid"] == call_uuid
    assert ivr.audio["frames"] == 40
    assert ivr.audio["rms"] > 1000
    assert ivr.routes == [[call_uuid]]
    newchannels = [e for e in events if e.event == "Newchannel" and e.get("Uniqueid") == uniqueid]
    assert newchannels and newchannels[0]["Exten"] == "86909000"
    assert newchannels[0]["Channel"].startswith("PJSIP/test-caller-")
    with session_scope(ivr.sessions) as db:
        row = db.scalars(select(Call).where(Call.call_uuid == call_uuid)).one()
        assert (row.caller_number, row.asterisk_uniqueid) == ("13800138000", uniqueid)
        assert row.channel == newchannels[0]["Channel"]


@aio
async def test_queue_without_agents_falls_back_to_callback(asterisk: Sandbox, caller, sqlite_url):  # noqa: ANN001
    ivr = FakeIvr(sqlite_url, route="queue")
    agi, audio = ivr.servers(asterisk)
    await agi.start()
    await audio.start()
    try:
        caller.wav(seconds=3)
        code, err = await _run_sipp(caller.command(), caller.workdir)
    finally:
        await audio.stop()
        await agi.stop()
    assert code == 0, err
    call_uuid = ivr.starts[0]["args"][0]
    # No agent is registered: Queue() refuses to hold the caller, the dialplan asks call-route again (which still
    # sees the caller id name and topic set for the agent's phone) and follows its "callback" answer to a BYE.
    assert ivr.routes == [[call_uuid], [call_uuid, "timeout", "JOINEMPTY"]]
    assert ivr.callbacks == [{"name": "户籍咨询", "context": "item=HJ001"}]


@aio
async def test_ivr_down_still_routes_the_call(asterisk: Sandbox, caller):  # noqa: ANN001
    # Nothing listens on the AGI/AudioSocket ports: the dialplan must not hang up on the caller.
    code, err = await _run_sipp(caller.command("uac", extra=("-d", "2000")), caller.workdir)
    assert code == 0, err  # the caller, not Asterisk, ended the call after 2 s
    assert await _until(lambda: "hotline IVR unavailable (AGISTATUS=FAILURE" in asterisk.log_file.read_text())


@aio
async def test_mixmonitor_records_both_directions(asterisk: Sandbox, caller, sqlite_url):  # noqa: ANN001
    import wave

    rx(asterisk, "dialplan set global RECORD_CALLS yes")
    ivr = FakeIvr(sqlite_url, route="hangup")
    agi, audio = ivr.servers(asterisk)
    await agi.start()
    await audio.start()
    try:
        caller.wav(seconds=3, freq=440)
        code, err = await _run_sipp(caller.command(), caller.workdir)
    finally:
        await audio.stop()
        await agi.stop()
        rx(asterisk, "dialplan set global RECORD_CALLS no")
    assert code == 0, err
    call_uuid = ivr.starts[0]["args"][0]
    recordings = sorted(asterisk.host_path(asterisk.recording_dir_in).glob(f"*/{call_uuid}.wav"))
    assert len(recordings) == 1
    for _ in range(100):  # MixMonitor finishes writing (header included) just after the hang-up
        try:
            with wave.open(str(recordings[0])) as w:
                if w.getnframes() >= 4000:
                    break
        except (wave.Error, EOFError):
            pass  # the header is not written yet on a busy machine
        await asyncio.sleep(0.1)
    with wave.open(str(recordings[0])) as w:
        assert (w.getframerate(), w.getsampwidth()) == (8000, 2)
        pcm = w.readframes(w.getnframes())
    assert len(pcm) >= 8000  # at least half a second of call
    assert _rms(pcm) > 500  # the caller's tone (and our 600 Hz prompt) are in it


@aio
async def test_a_message_cut_short_by_hanging_up_is_still_filed(asterisk: Sandbox, caller, sqlite_url,  # noqa: ANN001
                                                               tmp_path):
    """A recorded call that ends in voicemail, the caller hanging up mid-message. Our real call-start and
    call-voicemail handlers (CallControl, CallLog) store what Asterisk wrote, relative to the IVR's recording_dir
    (the host side of Asterisk's RECORDING_DIR, as `asterisk-sandbox env` sets it), and the panel's resolver finds
    the very files MixMonitor and Record() wrote."""
    import wave

    from hotline.config import load_settings
    from hotline.models.calls import CallbackTask
    from hotline.recordings import resolve_audio
    from ivr.calllog import CallLog
    from ivr.control import CallControl

    settings = load_settings(env={}, var_dir=str(tmp_path / "var"), database_url=sqlite_url,
                             recording_dir=str(asterisk.host_path(asterisk.recording_dir_in)))
    calllog = CallLog.from_settings(settings)
    control = CallControl(settings, calllog, agents=None)
    ivr = FakeIvr(sqlite_url, route="voicemail")
    voicemails: list[list[str]] = []

    async def call_start(session: AgiSession) -> None:
        ivr.starts.append(dict(session.env, args=session.args))
        await control.call_start(session)

    async def call_voicemail(session: AgiSession) -> None:
        voicemails.append(session.args)
        await control.call_voicemail(session)

    rx(asterisk, "dialplan set global RECORD_CALLS yes")
    agi, audio = ivr.servers(asterisk)
    agi.routes.update({"call-start": call_start, "call-voicemail": call_voicemail})
    await agi.start()
    await audio.start()
    try:
        caller.wav(seconds=1, freq=500)
        code, err = await _run_sipp(caller.command("uac_message.xml"), caller.workdir)
        assert code == 0, err
        assert await _until(lambda: bool(voicemails), 10), "call-voicemail never ran after the hang-up"
    finally:
        rx(asterisk, "dialplan set global RECORD_CALLS no")
        await audio.stop()
        await agi.stop()
        await asyncio.get_running_loop().run_in_executor(None, calllog.close)  # every queued write done
    call_uuid = ivr.starts[0]["args"][0]
    assert voicemails[0] == [call_uuid, f"voicemail-{call_uuid}.wav"]
    with session_scope(ivr.sessions) as db:
        call = db.scalars(select(Call).where(Call.call_uuid == call_uuid)).one()
        task = db.scalars(select(CallbackTask).where(CallbackTask.call_id == call.id)).one()
        recording_path, audio_path = call.recording_path, task.audio_path
    # The whole call: the row names the one file MixMonitor wrote for it.
    mixmonitor = sorted(asterisk.host_path(asterisk.recording_dir_in).glob(f"*/{call_uuid}.wav"))
    assert len(mixmonitor) == 1 and recording_path == f"{mixmonitor[0].parent.name}/{call_uuid}.wav"
    assert resolve_audio(settings.recording_dir, recording_path) == mixmonitor[0].resolve()
    # The message: the task names the file Record() wrote, and it holds the caller's voice up to the hang-up.
    message = resolve_audio(settings.recording_dir, audio_path)
    assert audio_path == f"voicemail-{call_uuid}.wav" and message is not None
    assert message == asterisk.host_path(asterisk.recording_dir_in / audio_path).resolve()
    with wave.open(str(message)) as w:
        pcm = w.readframes(w.getnframes())
    assert len(pcm) >= 2 * 8000 * 2  # seconds of the message, up to the hang-up
    assert _rms(pcm) > 500  # the caller's voice (tone), not silence


def test_calls_logged_no_errors(asterisk: Sandbox):
    # Runs after the calls above (file order): routing, queue, fallback and hang-ups must not log ERRORs.
    assert boot_problems(asterisk) == []
