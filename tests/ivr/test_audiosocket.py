"""AudioSocket codec (exact bytes, every split), connection and server over real sockets, pacer timing bounds."""

from __future__ import annotations

import asyncio
import functools
import socket
import uuid

import pytest

from ivr.audiosocket import (
    AudioReceived,
    AudioSocketConnection,
    AudioSocketParser,
    AudioSocketProtocolError,
    AudioSocketServer,
    DtmfReceived,
    ErrorReceived,
    HangupReceived,
    Pacer,
    UuidReceived,
    encode_audio,
    encode_dtmf,
    encode_error,
    encode_hangup,
    encode_uuid,
    split_frames,
)
from ivr.errors import ProtocolError


def aio(fn):
    """Run an async test on a fresh event loop (no pytest-asyncio needed), with a hard time limit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


CALL = uuid.UUID("3f2c1b4a-9d8e-4f70-a1b2-c3d4e5f60718")
PCM = bytes(range(256)) + bytes(64)  # 320 bytes = 20 ms at 8 kHz

# What Asterisk's AudioSocket() writes for one call: UUID, a frame, a DTMF digit, a frame, hang-up.
STREAM = (
    b"\x01\x00\x10" + CALL.bytes
    + b"\x10\x01\x40" + PCM
    + b"\x03\x00\x01" + b"5"
    + b"\x12\x00\x04" + b"\x01\x00\xff\x7f"
    + b"\xff\x00\x01\x02"
    + b"\x00\x00\x00"
)
EXPECTED = [
    UuidReceived(CALL),
    AudioReceived(PCM, 8000),
    DtmfReceived("5"),
    AudioReceived(b"\x01\x00\xff\x7f", 16000),
    ErrorReceived(2),
    HangupReceived(),
]


def test_whole_stream_decodes_in_order():
    assert AudioSocketParser().feed(STREAM) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_split_point_gives_the_same_events(cut):
    parser = AudioSocketParser()
    events = parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:])
    assert events == EXPECTED
    assert parser.pending == 0


def test_byte_at_a_time():
    parser = AudioSocketParser()
    events = [e for i in range(len(STREAM)) for e in parser.feed(STREAM[i : i + 1])]
    assert events == EXPECTED


def test_encoders_are_byte_exact():
    assert encode_hangup() == b"\x00\x00\x00"
    assert encode_uuid(CALL) == b"\x01\x00\x10" + CALL.bytes
    assert encode_uuid(str(CALL)) == encode_uuid(CALL)
    assert encode_dtmf("#") == b"\x03\x00\x01#"
    assert encode_error(4) == b"\xff\x00\x01\x04"
    assert encode_audio(PCM) == b"\x10\x01\x40" + PCM
    assert encode_audio(b"\x00\x00", 48000) == b"\x16\x00\x02\x00\x00"


@pytest.mark.parametrize(
    ("rate", "kind"),
    [(8000, 0x10), (12000, 0x11), (16000, 0x12), (24000, 0x13), (32000, 0x14), (44100, 0x15), (48000, 0x16),
     (96000, 0x17), (192000, 0x18)],
)
def test_higher_rate_kinds_round_trip(rate, kind):
    frame = encode_audio(b"\x02\x01" * 10, rate)
    assert frame[0] == kind
    assert AudioSocketParser().feed(frame) == [AudioReceived(b"\x02\x01" * 10, rate)]


def test_error_without_code_is_code_zero():
    assert AudioSocketParser().feed(b"\xff\x00\x00") == [ErrorReceived(0)]


def test_lowercase_dtmf_is_normalised():
    assert AudioSocketParser().feed(b"\x03\x00\x01a") == [DtmfReceived("A")]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x02\x00\x00", id="unknown-kind"),
        pytest.param(b"\x20\x00\x02ab", id="unknown-kind-0x20"),
        pytest.param(b"\x01\x00\x0f" + bytes(15), id="short-uuid"),
        pytest.param(b"\x01\x00\x11" + bytes(17), id="long-uuid"),
        pytest.param(b"\x03\x00\x01x", id="bad-dtmf"),
        pytest.param(b"\x03\x00\x02" + b"12", id="two-dtmf-bytes"),
        pytest.param(b"\x10\x00\x03abc", id="odd-audio"),
        pytest.param(b"\x10\x00\x00", id="empty-audio"),
        pytest.param(b"\x10\xff\xfe", id="oversize-audio"),
        pytest.param(b"\xff\x01\x00", id="oversize-error"),
    ],
)
def test_malformed_frames_raise(data):
    with pytest.raises(AudioSocketProtocolError):
        AudioSocketParser().feed(data)


def test_oversize_is_rejected_from_the_header_alone():
    # The declared length is refused before any payload arrives, so nothing is buffered for it.
    with pytest.raises(ProtocolError):
        AudioSocketParser().feed(b"\x10\xff\xfe")


def test_encoder_rejects_bad_input():
    with pytest.raises(ValueError):
        encode_audio(b"abc")
    with pytest.raises(ValueError):
        encode_audio(b"ab", 11025)
    with pytest.raises(ValueError):
        encode_dtmf("x")
    with pytest.raises(ValueError):
        encode_error(256)


def test_split_frames_pads_the_tail():
    frames = split_frames(bytes(700))
    assert [len(f) for f in frames] == [320, 320, 320]
    assert split_frames(b"") == []
    assert [len(f) for f in split_frames(bytes(640), 16000)] == [640]


async def _server(on_connection):
    server = AudioSocketServer("127.0.0.1", 0, on_connection)
    await server.start()
    return server


@aio
async def test_server_and_client_over_tcp():
    seen: list[object] = []

    async def echo(conn: AudioSocketConnection) -> None:
        async for event in conn.events():
            seen.append(event)
            if isinstance(event, AudioReceived):
                await conn.send_audio(event.pcm[::-1])
            if isinstance(event, DtmfReceived):
                await conn.hangup()

    server = await _server(echo)
    try:
        client = await AudioSocketConnection.connect("127.0.0.1", server.port, CALL)
        await client.send_audio(PCM)
        reply = [e async for e in _take(client, 1)]
        assert reply == [AudioReceived(PCM[::-1], 8000)]
        await client.send_dtmf("9")
        rest = [e async for e in client.events()]
        assert rest == [HangupReceived()]
        await client.close()
        assert seen[:3] == [UuidReceived(CALL), AudioReceived(PCM, 8000), DtmfReceived("9")]
    finally:
        await server.stop()


async def _take(conn: AudioSocketConnection, n: int):
    count = 0
    async for event in conn.events():
        yield event
        count += 1
        if count == n:
            return


@aio
async def test_socket_close_counts_as_hangup_and_records_uuid():
    done = asyncio.get_running_loop().create_future()

    async def handler(conn: AudioSocketConnection) -> None:
        events = [e async for e in conn.events()]
        done.set_result((conn.uuid, events))

    server = await _server(handler)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(CALL) + encode_audio(PCM)[:50])  # dies mid-frame
        await writer.drain()
        writer.close()
        call_uuid, events = await asyncio.wait_for(done, 5)
        assert call_uuid == CALL
        assert events == [UuidReceived(CALL), HangupReceived()]
    finally:
        await server.stop()


@aio
async def test_send_after_peer_left_is_quiet():
    gone = asyncio.Event()

    async def handler(conn: AudioSocketConnection) -> None:
        async for _ in conn.events():
            pass
        for _ in range(5):
            await conn.send_audio(PCM)  # must not raise
        gone.set()

    server = await _server(handler)
    try:
        client = await AudioSocketConnection.connect("127.0.0.1", server.port, CALL)
        await client.close()
        await asyncio.wait_for(gone.wait(), 5)
    finally:
        await server.stop()


@aio
async def test_a_peer_that_stops_reading_is_dropped_not_waited_on():
    """A wedged channel stops reading its socket: sending must give up (and the reader see a hang-up) rather
    than block the call for ever on a full send buffer."""
    cap = 200_000  # 64 MB of audio: far beyond any socket buffer, so only a stuck send ends the loop early
    done = asyncio.get_running_loop().create_future()

    async def handler(conn: AudioSocketConnection) -> None:
        reading = asyncio.create_task(_collect(conn))
        frame = encode_audio(PCM[:320])
        sent = 0
        while sent < cap and not conn.closed:
            await conn.send_raw(frame)
            sent += 1
        done.set_result((sent, conn.closed, await reading))

    server = AudioSocketServer("127.0.0.1", 0, handler, write_timeout_s=0.3)
    await server.start()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no window to grow into
    try:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(encode_uuid(CALL))  # then never read
        sent, closed, events = await asyncio.wait_for(done, 60)
        assert closed and sent < cap
        assert events[0] == UuidReceived(CALL) and events[-1] == HangupReceived()
    finally:
        sock.close()
        await server.stop()


async def _collect(conn: AudioSocketConnection) -> list[object]:
    return [e async for e in conn.events()]


class VirtualClock:
    """A clock that only moves when the pacer waits: the pacing schedule is checked exactly, whatever the load."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def wait(self, event: asyncio.Event, delay_s: float) -> None:
        if not event.is_set():
            self.now += delay_s
        await asyncio.sleep(0)


@aio
async def test_pacer_holds_real_time_and_bounded_lead():
    clock = VirtualClock()
    sent: list[float] = []

    async def send(frame: bytes) -> None:
        assert len(frame) == 320
        sent.append(clock())

    pacer = Pacer(send, lead_ms=60, clock=clock, wait=clock.wait)
    start = clock()
    assert await pacer.play(bytes(320 * 15)) is True  # 300 ms
    assert len(sent) == 15
    for i, t in enumerate(sent):
        assert t - start == pytest.approx(max(0.0, i * 0.020 - 0.060))  # never more than the lead ahead
    # 300 ms of audio sent at most 60 ms early: the last frame leaves 220 ms in, and the far end is 80 ms behind
    assert clock() - start == pytest.approx(0.220)
    assert pacer.ahead_s == pytest.approx(0.080)


@aio
async def test_pacer_stop_cuts_at_the_next_frame_and_the_next_prompt_starts_at_once():
    clock = VirtualClock()
    sent: list[float] = []
    pacer: Pacer

    async def send(frame: bytes) -> None:
        sent.append(clock())
        if len(sent) == 10:
            pacer.stop()  # the caller talked over the prompt while frame 10 was going out

    pacer = Pacer(send, clock=clock, wait=clock.wait)
    assert await pacer.play(bytes(320 * 250)) is False  # a 5 s prompt, cut
    assert pacer.frames_sent == 10 and len(sent) == 10  # not one frame after the stop
    assert pacer.ahead_s == pytest.approx(0.020)  # only the frame that was going out
    stopped_at = clock()
    # the next prompt starts immediately, not after the cut one's schedule
    assert await pacer.play(bytes(320 * 3)) is True
    assert sent[10] == stopped_at


@aio
async def test_pacer_wait_between_frames_ends_when_stopped():
    """On the real clock the wait for the next frame's slot returns on stop(), not when the slot comes."""
    from ivr.audiosocket import _wait_unless_set

    stop = asyncio.Event()
    waiting = asyncio.create_task(_wait_unless_set(stop, 3600))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(waiting, 30)  # a hang guard only: without the event it would sleep an hour
