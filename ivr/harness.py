"""Drive the call flow without a telephone network.

* ``TextCall``: the dialog with text in and spoken texts out, over the real knowledge base and booking dialog
  (no audio, no sockets) — for flow tests and quick experiments.
* ``AgiPeer`` / ``AudioSocketPeer`` / ``place_call``: act as Asterisk against a running IVR — FastAGI with an
  ``agi_*`` environment block like Asterisk's, then AudioSocket with real-time 20 ms audio frames, DTMF and
  hang-up, recording everything the IVR says. Used by ``hotline call``, the scenario tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuid_mod
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr import flow as F
from ivr.audiosocket import (
    AudioReceived,
    AudioSocketParser,
    HangupReceived,
    encode_audio,
    encode_dtmf,
    encode_hangup,
    encode_uuid,
)
from ivr.booking.bridge import BookingBridge
from ivr.interpreter import Played, Reply, run_sync
from ivr.ports import Knowledge

FRAME = 320  # 20 ms of 8 kHz slin
SILENCE_FRAME = bytes(FRAME)


class TextCall:
    """One call through the flow with text in, said texts out; Ask/CheckAgents/Book answered synchronously by the
    real knowledge base and booking dialog, through the same interpreter the call session uses."""

    def __init__(self, qa: Knowledge, agents: F.AgentStatus | None = None, booking: BookingBridge | None = None,
                 options: F.FlowOptions | None = None) -> None:
        self.qa = qa
        self.agents = agents or F.AgentStatus(staffed=True, free=None)
        self.booking = booking
        self.flow = F.CallFlow(options)
        self.commands: list[F.Command] = []
        self._confidence = 1.0  # recognition confidence of the last utterance, passed on with its answer
        self._said: list[str] = []

    def _perform(self, cmd: F.Command) -> Reply:
        self.commands.append(cmd)
        if isinstance(cmd, F.Say):
            self._said.append(cmd.text)
            return Played.FINISHED
        if isinstance(cmd, F.Ask):
            answer = self.qa.answer(cmd.question, cmd.context_item)
            return F.Answered(cmd.question, answer, self._confidence, cmd.confirmed)
        if isinstance(cmd, F.CheckAgents):
            return self.agents
        if isinstance(cmd, F.Book):
            return (self.booking.handle_sync(cmd) if self.booking is not None
                    else F.SpeechFailed("booking", "no booking dialog"))
        return None

    def _run(self, event: F.Event) -> list[str]:
        self._said = []
        run_sync(self.flow, self.flow.handle(event), self._perform)
        return self._said

    def start(self, staffed: bool = True) -> list[str]:
        return self._run(F.CallStarted(staffed))

    def say(self, text: str, confidence: float = 1.0) -> list[str]:
        self._confidence = confidence
        return self._run(F.Utterance(text, confidence))

    def press(self, digit: str) -> list[str]:
        return self._run(F.Dtmf(digit))

    def silence(self) -> list[str]:
        return self._run(F.Silence())

    def hang_up(self) -> list[str]:
        return self._run(F.HungUp())

    def last(self, kind: type) -> F.Command | None:
        return next((c for c in reversed(self.commands) if isinstance(c, kind)), None)


# ---- acting as Asterisk ----------------------------------------------------------------------------------------


def agi_environment(script: str, host: str, port: int, args: list[str], call: CallIdentity) -> dict[str, str]:
    """The block Asterisk sends at the start of a FastAGI connection."""
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://{host}:{port}/{script}",
        "agi_channel": call.channel,
        "agi_language": "zh",
        "agi_type": "PJSIP",
        "agi_uniqueid": call.uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": call.caller,
        "agi_calleridname": "unknown",
        "agi_callingpres": "0",
        "agi_dnid": call.dialled,
        "agi_rdnis": "unknown",
        "agi_context": "hotline",
        "agi_extension": _EXTENSION_OF_SCRIPT.get(script, call.dialled),
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000000",
    }
    for i, arg in enumerate(args, 1):
        env[f"agi_arg_{i}"] = arg
    return env


# The extension our dialplan runs these scripts from: [hotline-ivr-pick]'s "s", the hang-up handler "h".
_EXTENSION_OF_SCRIPT = {"call-start": "s", "call-end": "h"}


@dataclass
class CallIdentity:
    uuid: str = field(default_factory=lambda: str(uuid_mod.uuid4()))
    caller: str = "13800138000"
    dialled: str = "86909000"
    uniqueid: str = field(default_factory=lambda: f"{time.time():.6f}")
    channel: str = "PJSIP/caller-00000001"


async def agi_request(host: str, port: int, script: str, args: list[str], call: CallIdentity,
                      variables: dict[str, str] | None = None, timeout_s: float = 10.0) -> dict[str, str]:
    """Run one FastAGI script as Asterisk would; returns the variables the script set (quotes removed)."""
    reader, writer = await asyncio.open_connection(host, port)
    env = agi_environment(script, host, port, args, call)
    writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
    await writer.drain()
    got: dict[str, str] = {}
    known = dict(variables or {})
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout_s)
            if not line:
                break
            command = line.decode("utf-8").strip()
            reply = "200 result=1"
            if command.upper().startswith("SET VARIABLE"):
                name, value = _two_args(command[len("SET VARIABLE"):])
                got[name] = known[name] = value
            elif command.upper().startswith("GET VARIABLE"):
                name, _ = _two_args(command[len("GET VARIABLE"):] + ' ""')
                reply = f"200 result=1 ({known[name]})" if name in known else "200 result=0"
            writer.write(reply.encode() + b"\n")
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return got


def _two_args(text: str) -> tuple[str, str]:
    """Split AGI's quoted arguments the way Asterisk does (backslash escapes inside double quotes)."""
    out: list[str] = []
    cur, quoted, i, s = [], False, 0, text.strip()
    while i < len(s):
        ch = s[i]
        if ch == "\\" and quoted and i + 1 < len(s):
            cur.append(s[i + 1])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
        i += 1
    if cur or quoted:
        out.append("".join(cur))
    out += ["", ""]
    return out[0], out[1]


class AudioSocketPeer:
    """The Asterisk side of an AudioSocket call: sends 20 ms frames in real time (silence when idle, as a live
    channel does), records what the IVR sends with arrival times."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._parser = AudioSocketParser()
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self.received = bytearray()
        self.frames: list[tuple[float, int]] = []  # (arrival time, byte offset in received) of non-silent frames
        self.hung_up_by_ivr = asyncio.Event()
        self.closed = False
        self._sent_speech = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.frames_out = 0  # audio frames sent: the call's own clock, the IVR counts the same frames
        self.speech_starts: list[int] = []  # frames_out index at which each speak() began

    @classmethod
    async def connect(cls, host: str, port: int, call_uuid: str) -> AudioSocketPeer:
        reader, writer = await asyncio.open_connection(host, port)
        peer = cls(reader, writer)
        writer.write(encode_uuid(call_uuid))
        await writer.drain()
        peer._tasks = [asyncio.create_task(peer._send_loop()), asyncio.create_task(peer._recv_loop())]
        return peer

    async def _send_loop(self) -> None:
        next_at = time.monotonic()
        while not self.closed:
            try:
                frame = self._outgoing.get_nowait()
            except asyncio.QueueEmpty:
                frame = SILENCE_FRAME
                self._sent_speech.set()
            try:
                self._writer.write(encode_audio(frame) if len(frame) == FRAME else frame)
                await self._writer.drain()
            except (ConnectionError, OSError):
                self.closed = True
                return
            self.frames_out += len(frame) == FRAME
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _recv_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(4096)
                if not data:
                    break
                for ev in self._parser.feed(data):
                    if isinstance(ev, AudioReceived):
                        if any(ev.pcm):  # all-zero frames are the IVR's keepalive while it thinks, not speech
                            self.frames.append((time.monotonic(), len(self.received)))
                        self.received += ev.pcm
                    elif isinstance(ev, HangupReceived):
                        self.hung_up_by_ivr.set()
                        return
        except (ConnectionError, OSError):
            pass
        finally:
            self.hung_up_by_ivr.set()

    async def speak(self, pcm: bytes) -> float:
        """Queue speech (real time, after anything queued before); returns when its last frame went out.
        Returns the time its first frame was sent (monotonic, approx.)."""
        self._sent_speech.clear()
        pcm = pcm + bytes(-len(pcm) % FRAME)
        start = time.monotonic() + self._outgoing.qsize() * 0.02
        self.speech_starts.append(self.frames_out + self._outgoing.qsize())
        for i in range(0, len(pcm), FRAME):
            self._outgoing.put_nowait(pcm[i:i + FRAME])
        await self._sent_speech.wait()
        return start

    def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the wire in the frame order (for malformed-frame tests)."""
        self._outgoing.put_nowait(data)

    def press(self, digit: str) -> None:
        self._outgoing.put_nowait(encode_dtmf(digit))

    def last_audio_at(self) -> float | None:
        return self.frames[-1][0] if self.frames else None

    async def wait_quiet(self, gap_s: float = 1.0, timeout_s: float = 30.0, since: float | None = None) -> bool:
        """Wait until the IVR has sent audio (after ``since``) and then nothing for ``gap_s``; False on timeout."""
        deadline = time.monotonic() + timeout_s
        since = time.monotonic() if since is None else since
        while time.monotonic() < deadline:
            if self.hung_up_by_ivr.is_set():
                return True
            last = self.last_audio_at()
            if last is not None and last >= since and time.monotonic() - last >= gap_s:
                return True
            await asyncio.sleep(0.05)
        return False

    def audio_since(self, t: float) -> bytes:
        start = next((off for at, off in self.frames if at >= t), len(self.received))
        return bytes(self.received[start:])

    async def hang_up(self) -> None:
        if not self.closed:
            with contextlib.suppress(ConnectionError, OSError):
                self._writer.write(encode_hangup())
                await self._writer.drain()
        await self.close()

    async def close(self) -> None:
        self.closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


@dataclass
class PhoneCallResult:
    call: CallIdentity
    start_vars: dict[str, str]
    route_vars: dict[str, str]
    reply_audio: bytes  # everything the IVR said
    ivr_hung_up: bool
    answer_audio: bytes = b""  # what the IVR said after the question


async def place_call(host: str, agi_port: int, audiosocket_port: int, *, question: bytes | None = None,
                     dtmf: str = "", call: CallIdentity | None = None, barge_in: bool = True,
                     answer_gap_s: float = 1.5, timeout_s: float = 60.0,
                     on_progress: Callable[[str], None] | None = None) -> PhoneCallResult:
    """A whole call as the dialplan runs it: call-start AGI, AudioSocket dialog, call-route AGI."""
    call = call or CallIdentity()
    say = on_progress or (lambda _msg: None)
    start_vars = await agi_request(host, agi_port, "call-start", [call.uuid], call)
    peer = await AudioSocketPeer.connect(host, audiosocket_port, call.uuid)
    try:
        if barge_in and (question is not None or dtmf):
            await asyncio.sleep(0.5)  # the greeting has started; talk (or press keys) over it
        else:
            await peer.wait_quiet(1.0, timeout_s)  # let the greeting play out
        say("greeting heard")
        asked_at = time.monotonic()
        if question is not None:
            await peer.speak(question)
            asked_at = time.monotonic()
            say("question sent")
        for digit in dtmf:
            peer.press(digit)
            await asyncio.sleep(0.3)
            asked_at = time.monotonic()
        await peer.wait_quiet(answer_gap_s, timeout_s, since=asked_at)
        answer = peer.audio_since(asked_at)
        ivr_hung_up = peer.hung_up_by_ivr.is_set()
    finally:
        if not peer.hung_up_by_ivr.is_set():
            await peer.hang_up()
        else:
            await peer.close()
    if not ivr_hung_up:
        await asyncio.sleep(0.3)  # Asterisk would run the h extension; give the IVR a moment to close the row
    route_vars = await agi_request(host, agi_port, "call-route", [call.uuid], call)
    return PhoneCallResult(call, start_vars, route_vars, bytes(peer.received), ivr_hung_up, answer)
