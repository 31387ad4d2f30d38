"""AudioSocket: Asterisk's TCP audio protocol, as a sans-IO codec plus a thin asyncio connection and pacer.

Wire format (Asterisk ``res_audiosocket``): every message is a 3-byte header — kind (1 byte) and payload length
(16-bit big-endian) — followed by the payload.

====  ==========================================================================
kind  payload
====  ==========================================================================
0x00  hang up (empty); closing the socket means the same
0x01  call UUID, 16 raw bytes (the ``AudioSocket(${CALL_UUID},...)`` argument)
0x03  DTMF digit, 1 ASCII byte
0x10  signed linear 16-bit little-endian mono PCM, 8 kHz (20 ms = 320 bytes)
0x11  same at 12 kHz; 0x12 16 kHz; 0x13 24 kHz; 0x14 32 kHz; 0x15 44.1 kHz;
      0x16 48 kHz; 0x17 96 kHz; 0x18 192 kHz (chan_audiosocket only; the
      dialplan application always speaks 0x10)
0xff  error; optional 1-byte code (1 caller hung up, 2 frame forwarding, 4 memory)
====  ==========================================================================

Note: a short-lived Asterisk change used 0x11 for 16 kHz; the merged protocol above (docs, Asterisk 20.17/22.7+)
uses 0x12. We follow the merged table; the dialplan application sends only 0x10 anyway.

API
---
Codec (no sockets, h11-style)::

    parser = AudioSocketParser()
    for event in parser.feed(data):          # bytes in, events out; raises AudioSocketProtocolError
        ...                                  # UuidReceived | AudioReceived | DtmfReceived | HangupReceived | ErrorReceived
    encode_audio(pcm, sample_rate=8000)      # our answer audio (IVR -> Asterisk)
    encode_hangup()                          # IVR asks Asterisk to end the AudioSocket() step
    encode_uuid(u), encode_dtmf(d), encode_error(code)   # for a peer acting as Asterisk (tests, ``hotline call``)

asyncio::

    conn = AudioSocketConnection(reader, writer)          # or: await AudioSocketConnection.connect(host, port, uuid)
    async for event in conn.events(): ...                 # ends with exactly one HangupReceived (EOF counts)
    await conn.send_audio(pcm)                            # unpaced; use Pacer for real-time playback
    await conn.hangup(); await conn.close()

    server = AudioSocketServer(host, port, on_connection)   # on_connection(conn) is an async function
    await server.start(); server.port; await server.stop()

    conn.start_keepalive()                    # silence when idle: Asterisk drops the call after 2 s without data
                                              # (AudioSocketServer does this for every connection)

    Bounds (a hostile peer cannot make us buffer or wait without end): a message's length is checked from its
    header alone; a message begun and not finished within ``partial_timeout_s`` raises; a send that cannot drain
    within ``write_timeout_s`` drops the connection (the reader then sees a hang-up); the server side requires
    the call UUID as the first message, as Asterisk always sends it.
    pacer = Pacer(conn.send_audio)            # 20 ms frames, never more than ~60 ms ahead of real time
    finished = await pacer.play(pcm)          # False when stop() cut it short (barge-in)
    pacer.stop()                              # from any task: play() returns within one frame
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
import uuid as uuid_mod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ivr.errors import ProtocolError
from ivr.sockets import TcpServer

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_ERROR = 0xFF
# kind -> sample rate of signed-linear audio
SLIN_KINDS: dict[int, int] = {
    0x10: 8000,
    0x11: 12000,
    0x12: 16000,
    0x13: 24000,
    0x14: 32000,
    0x15: 44100,
    0x16: 48000,
    0x17: 96000,
    0x18: 192000,
}
RATE_KINDS = {rate: kind for kind, rate in SLIN_KINDS.items()}
DTMF_DIGITS = frozenset("0123456789*#ABCD")
HEADER = struct.Struct("!BH")
MAX_FRAME_MS = 500  # Asterisk sends 20 ms frames; anything above half a second is not a real frame
FRAME_MS = 20
# Asterisk writes each message whole: a message begun and not finished within this time is a stalled or hostile
# peer (e.g. a header announcing 65,534 bytes, then nothing) and the connection is cut.
PARTIAL_TIMEOUT_S = 2.0
# Asterisk reads its socket continuously and we stay ~60 ms ahead, so a send that cannot drain for this long means
# the peer has stopped reading (a wedged channel): give the call up instead of waiting on it for ever.
WRITE_TIMEOUT_S = 5.0


class AudioSocketProtocolError(ProtocolError):
    """Malformed AudioSocket bytes (unknown kind, bad length, bad UUID or DTMF)."""


@dataclass(frozen=True)
class UuidReceived:
    uuid: uuid_mod.UUID


@dataclass(frozen=True)
class AudioReceived:
    pcm: bytes
    sample_rate: int = 8000


@dataclass(frozen=True)
class DtmfReceived:
    digit: str


@dataclass(frozen=True)
class HangupReceived:
    pass


@dataclass(frozen=True)
class ErrorReceived:
    code: int


Event = UuidReceived | AudioReceived | DtmfReceived | HangupReceived | ErrorReceived


def max_audio_bytes(sample_rate: int) -> int:
    return min(0xFFFF, sample_rate * 2 * MAX_FRAME_MS // 1000)


def frame_bytes(sample_rate: int = 8000) -> int:
    """Bytes in one 20 ms frame of 16-bit mono PCM (320 at 8 kHz)."""
    return sample_rate * 2 * FRAME_MS // 1000


def _check_length(kind: int, length: int) -> None:
    # Validated from the header alone so a hostile length never makes us buffer.
    if kind == KIND_UUID:
        if length != 16:
            raise AudioSocketProtocolError(f"UUID message must carry 16 bytes, got {length}")
    elif kind == KIND_DTMF:
        if length != 1:
            raise AudioSocketProtocolError(f"DTMF message must carry 1 byte, got {length}")
    elif kind in SLIN_KINDS:
        rate = SLIN_KINDS[kind]
        if length == 0 or length % 2 or length > max_audio_bytes(rate):
            raise AudioSocketProtocolError(f"audio message of {length} bytes is not a {rate} Hz 16-bit frame")
    elif kind == KIND_HANGUP:
        if length > 16:
            raise AudioSocketProtocolError(f"hangup message with a {length}-byte payload")
    elif kind == KIND_ERROR:
        if length > 16:
            raise AudioSocketProtocolError(f"error message with a {length}-byte payload")
    else:
        raise AudioSocketProtocolError(f"unknown AudioSocket message kind 0x{kind:02x}")


def _event(kind: int, payload: bytes) -> Event:
    if kind in SLIN_KINDS:
        return AudioReceived(payload, SLIN_KINDS[kind])
    if kind == KIND_UUID:
        return UuidReceived(uuid_mod.UUID(bytes=payload))
    if kind == KIND_DTMF:
        digit = payload.decode("latin-1").upper()
        if digit not in DTMF_DIGITS:
            raise AudioSocketProtocolError(f"invalid DTMF digit {payload!r}")
        return DtmfReceived(digit)
    if kind == KIND_HANGUP:
        return HangupReceived()
    return ErrorReceived(payload[0] if payload else 0)


class AudioSocketParser:
    """Incremental decoder: feed any split of the byte stream, get whole events back in order."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a whole message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        events, error = self.feed_until_error(data)
        if error is not None:
            raise error
        return events

    def feed_until_error(self, data: bytes) -> tuple[list[Event], AudioSocketProtocolError | None]:
        """Like feed, but the whole messages before a malformed one are returned with the error (e.g. the call
        UUID that arrived in the same read as a bad frame: the call row must still name the fault)."""
        self._buf += data
        events: list[Event] = []
        try:
            while len(self._buf) >= HEADER.size:
                kind, length = HEADER.unpack_from(self._buf)
                _check_length(kind, length)
                end = HEADER.size + length
                if len(self._buf) < end:
                    break
                payload = bytes(self._buf[HEADER.size:end])
                del self._buf[:end]
                events.append(_event(kind, payload))
        except AudioSocketProtocolError as exc:
            return events, exc
        return events, None


def _encode(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def encode_audio(pcm: bytes, sample_rate: int = 8000) -> bytes:
    """One audio message; ``pcm`` is 16-bit little-endian mono at ``sample_rate``."""
    if sample_rate not in RATE_KINDS:
        raise ValueError(f"unsupported AudioSocket sample rate {sample_rate}")
    if not pcm or len(pcm) % 2 or len(pcm) > 0xFFFF:
        raise ValueError(f"audio payload of {len(pcm)} bytes is not 1..65534 bytes of 16-bit samples")
    return _encode(RATE_KINDS[sample_rate], bytes(pcm))


def encode_hangup() -> bytes:
    return _encode(KIND_HANGUP)


def encode_uuid(u: uuid_mod.UUID | str) -> bytes:
    value = u if isinstance(u, uuid_mod.UUID) else uuid_mod.UUID(str(u))
    return _encode(KIND_UUID, value.bytes)


def encode_dtmf(digit: str) -> bytes:
    if len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
        raise ValueError(f"invalid DTMF digit {digit!r}")
    return _encode(KIND_DTMF, digit.upper().encode("ascii"))


def encode_error(code: int) -> bytes:
    if not 0 <= code <= 255:
        raise ValueError(f"error code {code} does not fit one byte")
    return _encode(KIND_ERROR, bytes([code]))


def split_frames(pcm: bytes, sample_rate: int = 8000) -> list[bytes]:
    """Cut PCM into 20 ms frames; the last one is padded with silence so every frame has the same duration."""
    size = frame_bytes(sample_rate)
    frames = [pcm[i:i + size] for i in range(0, len(pcm) - len(pcm) % 2, size)]
    if frames and len(frames[-1]) < size:
        frames[-1] = frames[-1] + bytes(size - len(frames[-1]))
    return frames


class AudioSocketConnection:
    """One AudioSocket TCP connection (either side). Sending after the peer left is a no-op, not an error."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 uuid_first: bool = False, partial_timeout_s: float = PARTIAL_TIMEOUT_S,
                 write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = AudioSocketParser()
        self._uuid_first = uuid_first  # server side: Asterisk's first message is always the call UUID
        self.partial_timeout_s = partial_timeout_s
        self.write_timeout_s = write_timeout_s
        self.uuid: uuid_mod.UUID | None = None
        self.closed = False
        self._last_sent = time.monotonic()
        self._keepalive: asyncio.Task[None] | None = None
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    @classmethod
    async def connect(cls, host: str, port: int, call_uuid: uuid_mod.UUID | str | None = None) -> AudioSocketConnection:
        """Open a connection as Asterisk does: connect, then send the UUID message first."""
        reader, writer = await asyncio.open_connection(host, port)
        conn = cls(reader, writer)
        if call_uuid is not None:
            conn.uuid = call_uuid if isinstance(call_uuid, uuid_mod.UUID) else uuid_mod.UUID(str(call_uuid))
            await conn.send_raw(encode_uuid(conn.uuid))
        return conn

    async def events(self, chunk_size: int = 4096) -> AsyncIterator[Event]:
        """Events in arrival order; always ends with one HangupReceived (a closed socket is a hang-up)."""
        while True:
            pending = self._parser.pending
            try:
                # Waiting for the rest of a begun message is bounded; waiting for the next one is not (a silent
                # caller behind silence suppression sends nothing, and the call flow has its own timeouts).
                data = await asyncio.wait_for(self._reader.read(chunk_size),
                                              self.partial_timeout_s if pending else None)
            except TimeoutError:
                raise AudioSocketProtocolError(
                    f"incomplete message: {pending} bytes and nothing more for {self.partial_timeout_s:g} s") from None
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.closed = True
                yield HangupReceived()
                return
            events, error = self._parser.feed_until_error(data)
            for event in events:
                if self._uuid_first:
                    self._uuid_first = False
                    if not isinstance(event, UuidReceived):
                        raise AudioSocketProtocolError(f"first message must be the call UUID, got {event!r:.60}")
                if isinstance(event, UuidReceived) and self.uuid is None:
                    self.uuid = event.uuid
                yield event
                if isinstance(event, HangupReceived):
                    self.closed = True
                    return
            if error is not None:
                raise error

    async def send_raw(self, data: bytes) -> None:
        if self.closed or self._writer.is_closing():
            return
        try:
            self._writer.write(data)
            self._last_sent = time.monotonic()
            await asyncio.wait_for(self._writer.drain(), self.write_timeout_s)
        except TimeoutError:  # before OSError, of which it is a subclass
            log.warning("audiosocket %s: peer stopped reading for %g s; dropping the connection", self.peer,
                        self.write_timeout_s)
            self.closed = True
            self._writer.transport.abort()  # unblocks our reader too: it sees end of stream, i.e. a hang-up
        except (ConnectionError, OSError):
            self.closed = True

    def start_keepalive(self, idle_s: float = 0.5) -> None:
        """Send 20 ms of silence whenever nothing was sent for ``idle_s``.

        app_audiosocket hangs up after 2 s with no data in either direction, and a caller who is silent (or whose
        phone suppresses silence) sends nothing, so the IVR must keep the link busy while it thinks.
        """
        if self._keepalive is None:
            self._keepalive = asyncio.create_task(self._keep_alive(idle_s), name="audiosocket-keepalive")

    async def _keep_alive(self, idle_s: float) -> None:
        silence = encode_audio(bytes(frame_bytes()))
        while not self.closed:
            wait = self._last_sent + idle_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            await self.send_raw(silence)

    async def send_audio(self, pcm: bytes, sample_rate: int = 8000) -> None:
        """Send PCM now (split into messages of at most 20 ms); no pacing — see Pacer."""
        for frame in split_frames(pcm, sample_rate):
            await self.send_raw(encode_audio(frame, sample_rate))

    async def send_dtmf(self, digit: str) -> None:
        await self.send_raw(encode_dtmf(digit))

    async def hangup(self) -> None:
        """Ask the peer to end the call leg, then close our side."""
        await self.send_raw(encode_hangup())
        await self.close()

    async def close(self) -> None:
        self.closed = True
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


async def _wait_unless_set(event: asyncio.Event, delay_s: float) -> None:
    """Sleep ``delay_s`` on the event loop's clock, returning early when ``event`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=delay_s)


class Pacer:
    """Sends audio in real time: 20 ms frames, at most ``lead_ms`` ahead of the wall clock.

    Staying only slightly ahead keeps Asterisk's buffer short, so ``stop()`` (the caller talked over a prompt)
    silences the line within a frame or two instead of after the whole prompt.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        sample_rate: int = 8000,
        lead_ms: int = 60,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
    ) -> None:
        self._send = send
        self.sample_rate = sample_rate
        self._frame_s = FRAME_MS / 1000
        self._lead_s = lead_ms / 1000
        self._clock = clock
        self._wait = wait or _wait_unless_set  # a virtual clock passes its own (tests, simulations)
        self._next_due = 0.0  # wall-clock time at which the next frame starts playing at the far end
        self._stopped = asyncio.Event()
        self.playing = False
        self.frames_sent = 0

    async def play(self, pcm: bytes) -> bool:
        """Send ``pcm`` paced; True when all of it went out, False when stop() interrupted it."""
        self._stopped.clear()
        self.playing = True
        try:
            now = self._clock()
            self._next_due = max(self._next_due, now)
            for frame in split_frames(pcm, self.sample_rate):
                delay = self._next_due - self._lead_s - self._clock()
                if delay > 0:
                    await self._wait(self._stopped, delay)
                if self._stopped.is_set():
                    return False
                await self._send(frame)
                self.frames_sent += 1
                self._next_due += self._frame_s
            return True
        finally:
            self.playing = False

    def stop(self) -> None:
        """Flush: the current play() returns at once; the next play() starts fresh."""
        self._stopped.set()
        self._next_due = self._clock()

    @property
    def ahead_s(self) -> float:
        """How far the audio already sent runs ahead of real time (seconds, >= 0)."""
        return max(0.0, self._next_due - self._clock())


class AudioSocketServer(TcpServer):
    """Accepts Asterisk's AudioSocket() connections; ``on_connection(conn)`` runs per call (keepalive already
    started) and the socket is closed when it returns."""

    def __init__(
        self, host: str, port: int, on_connection: Callable[[AudioSocketConnection], Awaitable[None]],
        partial_timeout_s: float = PARTIAL_TIMEOUT_S, write_timeout_s: float = WRITE_TIMEOUT_S,
    ) -> None:
        super().__init__(host, port, name="audiosocket")
        self._on_connection = on_connection
        self.partial_timeout_s = partial_timeout_s
        self.write_timeout_s = write_timeout_s

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = AudioSocketConnection(reader, writer, uuid_first=True, partial_timeout_s=self.partial_timeout_s,
                                     write_timeout_s=self.write_timeout_s)
        conn.start_keepalive()
        try:
            await self._on_connection(conn)
        finally:
            await conn.close()
