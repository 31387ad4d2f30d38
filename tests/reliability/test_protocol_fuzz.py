"""Hostile and broken bytes on the IVR's three protocols, over real TCP against the real servers.

Random and mutated AudioSocket and FastAGI streams go to a running IVR (``IvrRuntime``) while healthy calls run
beside them; random and mutated AMI streams come from a peer playing Asterisk's manager interface to the real
``AmiClient``. Hypothesis runs derandomized with modest example counts: the same bytes on every run.

What the caller hears: a healthy call beside the fuzzer hears its greeting and "正在为您转接人工服务" and reaches
the queue, every time. What the database holds: each healthy call's row closed ``escalated``; a malformed
AudioSocket call that had sent its UUID is closed ``error`` with the protocol fault named. What the log says: one
WARNING per bad connection naming the peer (``127.0.0.1:<port>``) and the reason (malformed data, incomplete
message, no complete AGI environment, AMI line/message too long).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid as uuid_mod
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Call
from hotline.outcomes import Outcome
from ivr.agi import MAX_ENV_BYTES, MAX_LINE, AgiParser, AgiProtocolError, EnvironmentReceived
from ivr.ami import MAX_MESSAGE_BYTES, AmiClient, AmiParser, AmiProtocolError, AmiUnavailable, encode_message
from ivr.audiosocket import (
    HEADER,
    AudioSocketParser,
    AudioSocketProtocolError,
    ErrorReceived,
    HangupReceived,
    UuidReceived,
    encode_audio,
    encode_dtmf,
    encode_error,
    encode_hangup,
    encode_uuid,
)
from ivr.harness import CallIdentity, agi_environment, place_call
from tests.ivr.ami_peer import AmiPeer
from tests.ivr.test_calls import load_call
from tests.reliability.conftest import LoopThread

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CLOSE_WAIT_S = 10.0  # give up waiting for the server to close (a failure, not a speed claim)


# ---- a raw client socket ----


def _send(host: str, port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(data)
    return sock


def _closed_by_server(sock: socket.socket, within_s: float = CLOSE_WAIT_S) -> bool:
    """Read (and drop) whatever the server sends until it closes the connection; False if it never does."""
    deadline = time.monotonic() + within_s
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def _logged(ivr_log, *words: str, within_s: float = 5.0) -> list[str]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if found := ivr_log.matching(*words):
            return found
        time.sleep(0.02)
    return []


# ---- healthy calls beside the fuzzer ----


class HealthyCalls:
    """Places ordinary calls (caller presses 0 for an agent) one after another until stopped."""

    def __init__(self, ivr) -> None:  # noqa: ANN001 - BackgroundIvr
        self.ivr = ivr
        self.results: list = []
        self.stopping = False
        self.future = ivr.loop.spawn(self._run())

    async def _run(self) -> None:
        while not self.stopping or not self.results:
            result = await place_call(self.ivr.host, self.ivr.agi_port, self.ivr.audio_port, dtmf="0",
                                      call=CallIdentity(), timeout_s=30)
            self.results.append(result)

    def stop(self) -> list:
        self.stopping = True
        self.future.result(90)
        return self.results


def _assert_healthy(ivr, results) -> None:  # noqa: ANN001
    assert results, "no healthy call completed beside the fuzzer"
    for r in results:
        assert r.route_vars.get("HOTLINE_ROUTE") == "queue", r.call.uuid
        row, *_ = load_call(ivr.url, r.call.uuid)
        assert row.outcome == Outcome.ESCALATED.value and row.escalation_reason == "dtmf_0"


# ---- AudioSocket ----


def audiosocket_verdict(stream: bytes) -> str:
    """What the server must do with ``stream`` (then silence, connection kept open): ``malformed`` (close at once),
    ``partial`` (close after the partial-message timeout), ``ended`` (hang-up or error message: the call ends),
    ``live`` (a well-formed call in progress: it stays up)."""
    parser = AudioSocketParser()
    first = True
    for i in range(len(stream)):
        try:
            events = parser.feed(stream[i:i + 1])
        except AudioSocketProtocolError:
            return "malformed"
        for event in events:
            if first and not isinstance(event, UuidReceived):
                return "malformed"
            first = False
            if isinstance(event, HangupReceived | ErrorReceived):
                return "ended"
    return "partial" if parser.pending else "live"


CALL_UUID = uuid_mod.UUID("7d3c1a52-2b7e-4f2e-9a4e-2f0d5b7c9e10")
_pieces = st.one_of(
    st.binary(min_size=2, max_size=640).map(lambda b: encode_audio(b[: len(b) // 2 * 2])),
    st.sampled_from("123456789*#").map(encode_dtmf),  # not 0: that would hand the fuzz call to an agent
    st.tuples(st.integers(0, 255), st.integers(0, 0xFFFF)).map(lambda kl: HEADER.pack(*kl)),
    st.binary(max_size=48),
    st.sampled_from([encode_hangup(), encode_error(1), encode_error(4)]),
)


@st.composite
def audiosocket_streams(draw) -> bytes:  # noqa: ANN001
    """A call's bytes (UUID first, then frames, keys, bare headers, junk), then maybe one mutation."""
    stream = bytearray(encode_uuid(CALL_UUID) if draw(st.booleans()) else b"")
    stream += b"".join(draw(st.lists(_pieces, max_size=6)))
    mutation = draw(st.sampled_from(["none", "flip", "truncate", "length"]))
    if stream and mutation == "flip":
        i = draw(st.integers(0, len(stream) - 1))
        stream[i] ^= draw(st.integers(1, 255))
    elif stream and mutation == "truncate":
        del stream[draw(st.integers(1, len(stream))):]
    elif len(stream) >= 3 and mutation == "length":
        stream[1:3] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    return bytes(stream) or b"\x01"


def test_audiosocket_fuzz_bad_connections_are_closed_with_a_reason_and_calls_go_on(background_ivr, ivr_log):
    ivr = background_ivr
    healthy = HealthyCalls(ivr)
    seen: dict[str, int] = {}

    @FUZZ
    @given(stream=audiosocket_streams())
    def one_connection(stream: bytes) -> None:
        verdict = audiosocket_verdict(stream)
        seen[verdict] = seen.get(verdict, 0) + 1
        sock = _send(ivr.host, ivr.audio_port, stream)
        port = sock.getsockname()[1]
        try:
            if verdict == "live":
                return  # a well-formed call: we hang up by closing (checked by the healthy calls' rows)
            assert _closed_by_server(sock), f"{verdict} stream {stream[:40]!r} was never cut off"
            if verdict in ("malformed", "partial"):
                reason = "incomplete message" if verdict == "partial" else "AudioSocket"
                assert _logged(ivr_log, "WARNING", f"127.0.0.1:{port}", reason), f"no reason logged for {stream[:40]!r}"
        finally:
            sock.close()

    one_connection()
    _assert_healthy(ivr, healthy.stop())
    # The strategy really produced each kind of connection (otherwise the property says little).
    assert {"malformed", "partial", "ended", "live"} <= set(seen), seen


def test_audiosocket_header_announcing_65535_bytes_then_nothing_is_cut_off(background_ivr, ivr_log):
    """Kind 0x10 with 65,535 bytes is refused from the header alone; kind 0x18 (192 kHz) may carry 65,534 bytes,
    so a peer that announces them and sends nothing is cut off after the partial-message timeout (it used to hold
    the connection and its buffer for ever). The call row that UUID opened is closed ``error`` naming the fault."""
    ivr = background_ivr
    calls = {kind: str(uuid_mod.uuid4()) for kind in (0x10, 0x18)}
    for kind, call in calls.items():
        sock = _send(ivr.host, ivr.audio_port, encode_uuid(call) + HEADER.pack(kind, 0xFFFF if kind == 0x10 else 0xFFFE)
                     + b"\x00" * 100)
        port = sock.getsockname()[1]
        assert _closed_by_server(sock), f"kind 0x{kind:02x}: a stalled 64 KB frame held the connection open"
        sock.close()
        reason = "incomplete message: 103 bytes" if kind == 0x18 else "is not a 8000 Hz 16-bit frame"
        assert _logged(ivr_log, "WARNING", f"127.0.0.1:{port}", reason)
    for call in calls.values():
        deadline = time.monotonic() + 5
        while (row := load_call(ivr.url, call)[0]).outcome == Outcome.IN_PROGRESS.value and time.monotonic() < deadline:
            time.sleep(0.05)
        assert row.outcome == Outcome.ERROR.value and row.error.startswith("protocol: ")


# ---- FastAGI ----


def agi_verdict(stream: bytes) -> str:
    """``malformed`` (closed at once), ``partial`` (closed after the environment timeout) or ``complete``."""
    parser = AgiParser()
    for i in range(len(stream)):
        try:
            events = parser.feed(stream[i:i + 1])
        except AgiProtocolError:
            return "malformed"
        if any(isinstance(e, EnvironmentReceived) for e in events):
            return "complete"
    return "partial"


def _env_lines(script: str) -> list[bytes]:
    call = CallIdentity()
    env = agi_environment(script, "127.0.0.1", 4573, [call.uuid], call)
    return [f"{k}: {v}\n".encode() for k, v in env.items()]


@st.composite
def agi_streams(draw) -> bytes:  # noqa: ANN001
    """Asterisk's environment block for one of our routes (or an unknown one), then mutated."""
    lines = _env_lines(draw(st.sampled_from(["call-start", "call-route", "call-end", "nope"])))
    mutation = draw(st.sampled_from(["none", "no_blank", "junk_line", "binary", "flip", "truncate", "giant"]))
    if mutation == "junk_line":
        lines.insert(draw(st.integers(0, len(lines))), draw(st.binary(max_size=80)) + b"\n")
    elif mutation == "binary":
        return draw(st.binary(min_size=1, max_size=400))
    elif mutation == "giant":
        lines.insert(draw(st.integers(0, len(lines))), b"agi_x: " + b"a" * (MAX_LINE + 10))
    stream = bytearray(b"".join(lines) + (b"" if mutation == "no_blank" else b"\n"))
    if mutation == "flip":
        i = draw(st.integers(0, len(stream) - 1))
        stream[i] ^= draw(st.integers(1, 255))
    elif mutation == "truncate":
        del stream[draw(st.integers(1, len(stream))):]
    return bytes(stream)


def test_fastagi_fuzz_bad_connections_are_closed_with_a_reason_and_calls_go_on(background_ivr, ivr_log):
    ivr = background_ivr
    healthy = HealthyCalls(ivr)
    seen: dict[str, int] = {}

    @FUZZ
    @given(stream=agi_streams())
    def one_connection(stream: bytes) -> None:
        verdict = agi_verdict(stream)
        seen[verdict] = seen.get(verdict, 0) + 1
        sock = _send(ivr.host, ivr.agi_port, stream)
        port = sock.getsockname()[1]
        try:
            if verdict == "complete":
                return  # Asterisk's own shape: the handler runs; we hang up by closing
            assert _closed_by_server(sock), f"{verdict} AGI stream {stream[:60]!r} was never cut off"
            reason = "malformed environment" if verdict == "malformed" else "no complete AGI environment"
            assert _logged(ivr_log, "WARNING", f"FastAGI 127.0.0.1:{port}", reason), f"no reason for {stream[:60]!r}"
        finally:
            sock.close()

    one_connection()
    _assert_healthy(ivr, healthy.stop())
    assert {"malformed", "partial", "complete"} <= set(seen), seen


@pytest.mark.parametrize("shape", ["lines_forever", "one_giant_line", "drip"])
def test_an_endless_agi_environment_is_cut_off_at_a_bound(background_ivr, ivr_log, shape):
    """Lines for ever: cut once the block passes MAX_ENV_BYTES; one line without end: cut past MAX_LINE; a line
    now and then, never the blank line: cut at the environment timeout. What was read stays within the bound."""
    ivr = background_ivr
    sock = socket.create_connection((ivr.host, ivr.agi_port), timeout=5)
    port = sock.getsockname()[1]
    sent = 0
    chunk = {"lines_forever": b"agi_variable: " + b"x" * 1000 + b"\n", "one_giant_line": b"y" * 4096,
             "drip": b"agi_variable: 1\n"}[shape]
    deadline = time.monotonic() + CLOSE_WAIT_S
    try:
        while time.monotonic() < deadline:
            try:
                sock.sendall(chunk)
            except OSError:
                break  # reset by the server: it gave up on us
            sent += len(chunk)
            if shape == "drip":
                time.sleep(0.1)
            sock.settimeout(0.001)
            try:
                if not sock.recv(1):
                    break
            except TimeoutError:
                pass
            except OSError:
                break
        else:
            pytest.fail(f"{shape}: the server was still reading after {sent} bytes")
    finally:
        sock.close()
    reason = {"lines_forever": "AGI environment too large", "one_giant_line": f"longer than {MAX_LINE} bytes",
              "drip": "no complete AGI environment"}[shape]
    assert _logged(ivr_log, "WARNING", f"FastAGI 127.0.0.1:{port}", reason)
    # Bound on what it swallowed: the limit plus what the socket buffers held when it stopped reading.
    assert sent <= {"lines_forever": MAX_ENV_BYTES, "one_giant_line": MAX_LINE, "drip": 4096}[shape] + (8 << 20)


# ---- AMI ----


class HostileAmi(AmiPeer):
    """Asterisk's manager interface that, after the login of its first connection, sends ``payload`` (and holds
    the line open); later connections are served normally."""

    def __init__(self, payload: bytes = b"", endless: bytes = b"") -> None:
        super().__init__(secret=None)
        self.payload, self.endless = payload, endless
        self.connections = 0
        self.first = None  # the first connection's writer: the one that gets the payload
        self.sent = 0

    async def _client(self, reader, writer) -> None:  # noqa: ANN001
        self.connections += 1
        if self.connections == 1:
            self.first = writer
        await super()._client(reader, writer)

    async def _answered(self, msg, writer) -> None:  # noqa: ANN001
        if writer is not self.first or (msg.get("Action") or "").lower() != "login":
            return
        writer.write(self.payload)
        await writer.drain()
        while self.endless:
            writer.write(self.endless)
            await writer.drain()
            self.sent += len(self.endless)


def ami_verdict(stream: bytes) -> str:
    """``malformed`` (the client must drop the connection and log in again), ``partial`` (a message left
    unfinished: what follows it is garbled, so one action may fail before the client recovers) or ``ok``."""
    parser = AmiParser(expect_banner=False)
    try:
        parser.feed(stream)
    except AmiProtocolError:
        return "malformed"
    return "ok" if parser.between_messages else "partial"


_ami_messages = st.lists(st.tuples(st.sampled_from(["Event", "Response", "ActionID", "Channel", "Uniqueid", "Queue"]),
                                   st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                                           max_size=20)),
                         min_size=1, max_size=4).map(encode_message)


@st.composite
def ami_streams(draw) -> bytes:  # noqa: ANN001
    stream = bytearray(b"".join(draw(st.lists(_ami_messages, max_size=3))))
    mutation = draw(st.sampled_from(["none", "junk", "flip", "truncate"]))
    if mutation == "junk":
        stream[draw(st.integers(0, len(stream))):0] = draw(st.binary(min_size=1, max_size=60)) + b"\r\n"
    elif stream and mutation == "flip":
        i = draw(st.integers(0, len(stream) - 1))
        stream[i] ^= draw(st.integers(1, 255))
    elif stream and mutation == "truncate":
        del stream[draw(st.integers(0, len(stream) - 1)):]
    return bytes(stream)


async def _ami_round(peer: HostileAmi, events: list) -> AmiClient:  # noqa: ANN001
    await peer.start()
    client = AmiClient("127.0.0.1", peer.port, "hotline", "x", on_event=events.append, backoff_min_s=0.05,
                       backoff_max_s=0.05, action_timeout_s=1)
    await client.start()
    await client.wait_connected(5)
    await asyncio.sleep(0.05)  # the payload follows the login
    return client


def test_ami_fuzz_a_bad_stream_drops_the_connection_with_a_reason_and_the_client_reconnects(ivr_log):
    loop = LoopThread()
    seen: dict[str, int] = {}

    async def scenario(stream: bytes, verdict: str) -> tuple[int, list[bool], int]:
        peer, events = HostileAmi(stream), []
        client = await _ami_round(peer, events)
        answers: list[bool] = []
        try:
            for _ in range(250):  # a bad stream: wait for the login on the (now healthy) second connection
                if verdict != "malformed" or (peer.connections > 1 and client.connected):
                    break
                await asyncio.sleep(0.02)
            for _ in range(2 if verdict == "partial" else 1):
                await client.wait_connected(5)
                try:
                    answers.append((await client.action("Command", Command="core show version")).ok)
                except AmiUnavailable:
                    answers.append(False)
                if answers[-1]:
                    break
            return peer.connections, answers, peer.port
        finally:
            await client.stop()
            await peer.stop()

    @FUZZ
    @given(stream=ami_streams())
    def one_stream(stream: bytes) -> None:
        verdict = ami_verdict(stream)
        seen[verdict] = seen.get(verdict, 0) + 1
        connects, answers, port = loop.run(scenario(stream, verdict), timeout=30)
        assert answers[-1], f"the client no longer works after the peer sent {stream[:60]!r}"
        if verdict == "malformed":
            assert connects == 2, "a malformed AMI stream must drop the connection and log in again"
            assert _logged(ivr_log, "WARNING", f"AMI 127.0.0.1:{port} unavailable")
        elif verdict == "ok":
            assert connects == 1 and answers == [True], f"well-formed AMI bytes {stream[:60]!r} broke the client"

    try:
        one_stream()
    finally:
        loop.close()
    assert {"malformed", "partial", "ok"} <= set(seen), seen


def test_an_ami_event_without_its_blank_line_is_cut_off_at_a_bound(ivr_log):
    """The peer sends one event's lines for ever (8 KB each, never the blank line): the client drops the
    connection once the message passes MAX_MESSAGE_BYTES (it used to accept 10,000 such lines: 80 MB),
    says why, and logs in again."""
    loop = LoopThread()

    async def scenario() -> tuple[int, int, int]:
        peer, events = HostileAmi(b"Event: Newchannel\r\n", endless=b"Variable: " + b"v" * 8180 + b"\r\n"), []
        client = await _ami_round(peer, events)
        try:
            for _ in range(500):
                if client.connects > 1:
                    break
                await asyncio.sleep(0.02)
            await client.wait_connected(5)
            return client.connects, peer.sent, peer.port
        finally:
            peer.endless = b""
            await client.stop()
            await peer.stop()

    try:
        connects, sent, port = loop.run(scenario())
    finally:
        loop.close()
    assert connects == 2
    assert _logged(ivr_log, "WARNING", f"AMI 127.0.0.1:{port} unavailable", "without its blank line")
    assert sent <= MAX_MESSAGE_BYTES + _loopback_buffers()  # the bound plus what the sockets hold, not 80 MB


def _loopback_buffers() -> int:
    """The most the two sockets can hold between the peer's write and the client's read: the kernel's largest TCP
    receive and send buffers (autotuned up to these on a busy machine) and asyncio's write buffer."""
    def most(name: str) -> int:
        return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])

    return most("tcp_rmem") + most("tcp_wmem") + (1 << 20)


@pytest.mark.parametrize("arg", ["x" * 200, "'; DROP TABLE calls; --", "3f2c1b4a-9d8e-4f70-a1b2-c3d4e5f60718x"])
def test_a_call_uuid_that_is_not_a_uuid_never_reaches_the_database(background_ivr, ivr_log, arg):
    """Sent: a complete, well-formed ``call-start`` environment whose UUID argument is not a UUID (too long for the
    PostgreSQL column: every write behind it would fail and pile up in the spool). Must hold: the handler logs the
    refusal and returns to the dialplan, no call row exists for that argument, and the next real call is served."""
    ivr = background_ivr
    lines = [f"{k}: {v}\n".encode() for k, v in
             agi_environment("call-start", "127.0.0.1", ivr.agi_port, [arg], CallIdentity()).items()]
    sock = _send(ivr.host, ivr.agi_port, b"".join(lines) + b"\n")
    try:
        assert _logged(ivr_log, "WARNING", "not a UUID")
    finally:
        sock.close()
    engine = make_engine(ivr.url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            assert s.scalar(select(func.count()).select_from(Call).where(Call.call_uuid == arg[:36])) == 0
            assert s.scalar(select(func.count()).select_from(Call).where(Call.call_uuid == arg)) == 0
    finally:
        engine.dispose()
    healthy = HealthyCalls(ivr)
    _assert_healthy(ivr, healthy.stop())
