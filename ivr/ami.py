"""AMI (Asterisk Manager Interface): a sans-IO codec plus a reconnecting asyncio client.

Wire protocol: on connect Asterisk sends one banner line (``Asterisk Call Manager/9.0.0``). After that both sides
exchange messages of ``Key: Value\\r\\n`` lines ended by a blank line. A message with ``Response:`` answers the
action carrying the same ``ActionID``; a message with ``Event:`` is an event. Actions that return lists
(QueueStatus, CoreShowChannels, ...) answer ``Response: Success`` + ``EventList: start``, then send events carrying
the same ActionID, then ``...Complete`` (``EventList: Complete``). ``Command`` answers either ``Output:`` lines
(Asterisk 14+) or, on old servers, ``Response: Follows`` with raw text ending in ``--END COMMAND--``.

Why our own instead of pystrix / panoramisk / asterisk-ami: pystrix's AMI is thread-based and panoramisk is
unmaintained and mixes parsing with its transport; both would be the only thread/loop outside our asyncio runtime.
This codec is sans-IO (``AmiParser.feed(bytes) -> messages``, ``encode_action(...) -> bytes``) so tests feed it exact
bytes at every split, and the client is ~150 lines we control: back-off reconnect, fail-fast when AMI is down.

Client::

    client = AmiClient(host, port, "hotline", secret, on_event=handle)   # handle(msg) may be sync or async
    await client.start()                    # returns at once; connects (and reconnects) in the background
    await client.wait_connected(5)          # optional
    resp = await client.action("QueueStatus", Queue="hotline-agents")   # AmiResponse; .ok, .events, .output
    await client.stop()

``action`` raises AmiUnavailable (an IvrError) when AMI is not connected or the connection drops mid-action;
it never blocks waiting for a reconnect. An ``Error`` response is returned (``resp.ok`` is False), not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ivr.errors import IvrError, ProtocolError

log = logging.getLogger(__name__)

MAX_LINE = 65536
MAX_MESSAGE_LINES = 10000
# One message's bytes (a long ``Command`` output is ~100 KB): a peer sending an event that never ends with its
# blank line is cut off here, not after MAX_MESSAGE_LINES lines of MAX_LINE bytes (650 MB).
MAX_MESSAGE_BYTES = 1 << 20
END_COMMAND = "--END COMMAND--"
_FOLLOWS_HEADERS = frozenset({"privilege", "actionid", "message"})
_KEY = re.compile(r"^([^:\s][^:]*):[ ]?(.*)$")


class AmiProtocolError(ProtocolError):
    """Bytes that are not AMI (no banner, line too long, message without Key: Value lines)."""


class AmiUnavailable(IvrError):
    """AMI is not connected (or the connection dropped mid-action); the call flow carries on without it."""


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message; keys keep their order and may repeat (``Output``, ``Variable``)."""

    items: tuple[tuple[str, str], ...]
    output: tuple[str, ...] = ()  # raw lines of a ``Response: Follows`` block

    def get(self, key: str, default: str | None = None) -> str | None:
        low = key.lower()
        for k, v in self.items:
            if k.lower() == low:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        low = key.lower()
        return [v for k, v in self.items if k.lower() == low]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """First value per key (case as sent)."""
        out: dict[str, str] = {}
        for k, v in self.items:
            out.setdefault(k, v)
        return out


@dataclass(frozen=True)
class BannerReceived:
    text: str  # e.g. "Asterisk Call Manager/9.0.0"


AmiEvent = BannerReceived | AmiMessage


class AmiParser:
    """Incremental decoder: banner first, then messages. Tolerates ``\\n`` as well as ``\\r\\n``."""

    def __init__(self, expect_banner: bool = True) -> None:
        self._buf = bytearray()
        self._banner = expect_banner
        self._items: list[tuple[str, str]] = []
        self._output: list[str] | None = None  # inside a Response: Follows block
        self._message_bytes = 0  # bytes of the message being collected

    @property
    def between_messages(self) -> bool:
        """Nothing buffered and no message half collected (the bytes so far were whole messages)."""
        return not self._buf and not self._items and self._output is None

    def feed(self, data: bytes) -> list[AmiEvent]:
        out, error = self.feed_until_error(data)
        if error is not None:
            raise error
        return out

    def feed_until_error(self, data: bytes) -> tuple[list[AmiEvent], AmiProtocolError | None]:
        """Like feed, but the whole messages before a malformed line come back with the error (a login response
        followed by garbage in the same read is still a login response)."""
        out: list[AmiEvent] = []
        try:
            self._feed(data, out)
        except AmiProtocolError as exc:
            return out, exc
        return out, None

    def _feed(self, data: bytes, out: list[AmiEvent]) -> None:
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if (nl if nl >= 0 else len(self._buf)) > MAX_LINE:  # however TCP split the bytes
                raise AmiProtocolError(f"AMI line longer than {MAX_LINE} bytes")
            if nl < 0:
                return
            line = bytes(self._buf[:nl]).decode("utf-8", errors="replace").rstrip("\r")
            del self._buf[: nl + 1]
            self._message_bytes += nl + 1
            if self._message_bytes > MAX_MESSAGE_BYTES:
                raise AmiProtocolError(f"AMI message longer than {MAX_MESSAGE_BYTES} bytes without its blank line")
            msg = self._line(line)
            if msg is not None:
                out.append(msg)

    def _line(self, line: str) -> AmiEvent | None:
        if self._banner:
            self._banner = False
            self._message_bytes = 0
            if not line.startswith("Asterisk Call Manager"):
                raise AmiProtocolError(f"not an AMI banner: {line[:80]!r}")
            return BannerReceived(line)
        if self._output is not None:
            return self._follows_line(line)
        if line == "":
            if not self._items:
                self._message_bytes = 0  # blank lines between messages
                return None
            return self._finish()
        m = _KEY.match(line)
        if not m:
            raise AmiProtocolError(f"not an AMI 'Key: Value' line: {line[:80]!r}")
        self._items.append((m.group(1), m.group(2)))
        if len(self._items) > MAX_MESSAGE_LINES:
            raise AmiProtocolError("AMI message too long")
        if len(self._items) == 1 and m.group(1).lower() == "response" and m.group(2).strip().lower() == "follows":
            self._output = []
        return None

    def _follows_line(self, line: str) -> AmiEvent | None:
        assert self._output is not None
        if line.endswith(END_COMMAND):
            rest = line[: -len(END_COMMAND)]
            if rest:
                self._output.append(rest)
            return self._finish()
        m = _KEY.match(line)
        if not self._output and m and m.group(1).lower() in _FOLLOWS_HEADERS:
            self._items.append((m.group(1), m.group(2)))
        else:
            self._output.append(line)
            if len(self._output) > MAX_MESSAGE_LINES:
                raise AmiProtocolError("Response: Follows block without --END COMMAND--")
        return None

    def _finish(self) -> AmiMessage:
        msg = AmiMessage(tuple(self._items), tuple(self._output or ()))
        self._items, self._output, self._message_bytes = [], None, 0
        return msg


def _check_value(text: str) -> str:
    if "\r" in text or "\n" in text:
        # A newline would let a value inject extra headers or actions.
        raise ValueError(f"AMI field contains a line break: {text[:40]!r}")
    return text


def encode_action(name: str, action_id: str | None = None, **fields: object) -> bytes:
    """``Action: name`` + ``ActionID`` + fields; a list/tuple value repeats the key (e.g. ``Variable``)."""
    lines = [f"Action: {_check_value(name)}"]
    if action_id is not None:
        lines.append(f"ActionID: {_check_value(action_id)}")
    for key, value in fields.items():
        for v in value if isinstance(value, list | tuple) else [value]:
            lines.append(f"{_check_value(key)}: {_check_value(str(v))}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def encode_message(items: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> bytes:
    """Any message (used by a peer playing Asterisk in tests)."""
    return ("".join(f"{_check_value(k)}: {_check_value(v)}\r\n" for k, v in items) + "\r\n").encode("utf-8")


# --- client --------------------------------------------------------------------------------------------------


@dataclass
class AmiResponse:
    message: AmiMessage
    events: list[AmiMessage] = field(default_factory=list)  # event-list members, without the ...Complete event

    @property
    def ok(self) -> bool:
        return (self.message.response or "").lower() in ("success", "follows", "goodbye")

    @property
    def text(self) -> str:
        return self.message.get("Message", "") or ""

    @property
    def output(self) -> list[str]:
        """Command output: ``Output:`` lines (Asterisk 14+) or the raw ``Follows`` block."""
        return self.message.get_all("Output") or list(self.message.output)


def _starts_event_list(msg: AmiMessage) -> bool:
    return (msg.get("EventList") or "").lower() == "start" or "will follow" in (msg.get("Message") or "").lower()


def _ends_event_list(msg: AmiMessage) -> bool:
    return (msg.get("EventList") or "").lower() == "complete" or (msg.event or "").endswith("Complete")


@dataclass
class _Pending:
    future: asyncio.Future[AmiResponse]
    response: AmiResponse | None = None  # set while an event list is being collected


EventCallback = Callable[[AmiMessage], Awaitable[None] | None]


class AmiClient:
    """Keeps one logged-in AMI connection up, reconnecting with exponential back-off."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: EventCallback | None = None,
        *,
        events: str = "on",
        action_timeout_s: float = 10.0,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self._on_event = on_event
        self._events = events
        self.action_timeout_s = action_timeout_s
        self._backoff = (backoff_min_s, backoff_max_s)
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.banner: str | None = None
        self.connects = 0  # successful logins, for metrics and tests

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ami-client")

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self.connected

    async def stop(self) -> None:
        self._stopping = True
        if self.connected:
            with contextlib.suppress(AmiUnavailable, TimeoutError):
                await asyncio.wait_for(self.action("Logoff"), 1.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._stopping = False

    async def action(self, name: str, **fields: object) -> AmiResponse:
        """Send an action and wait for its response (and its event list, if any)."""
        if not self.connected or self._writer is None:
            raise AmiUnavailable(f"AMI {self.host}:{self.port} is not connected")
        return await self._send(self._writer, name, **fields)

    async def _send(self, writer: asyncio.StreamWriter, name: str, **fields: object) -> AmiResponse:
        action_id = f"hotline-{next(self._ids)}"
        future: asyncio.Future[AmiResponse] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(future)
        try:
            writer.write(encode_action(name, action_id, **fields))
            await writer.drain()
            return await asyncio.wait_for(future, self.action_timeout_s)
        except (ConnectionError, OSError) as exc:
            raise AmiUnavailable(f"AMI connection lost during {name}: {exc}") from None
        except TimeoutError:
            raise AmiUnavailable(f"AMI action {name} got no response in {self.action_timeout_s:g} s") from None
        finally:
            self._pending.pop(action_id, None)

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                await self._session()
                delay = self._backoff[0]  # we were logged in: retry soon
            except asyncio.CancelledError:
                raise
            except (OSError, ConnectionError, AmiProtocolError, AmiUnavailable) as exc:
                if self._stopping:
                    return  # our own Logoff closed it
                log.warning("AMI %s:%d unavailable: %s; retrying in %.1f s", self.host, self.port, exc, delay)
            finally:
                self._drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _session(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        parser = AmiParser()
        reading = asyncio.create_task(self._read(reader, parser))
        try:
            login = await self._send(
                writer, "Login", Username=self._username, Secret=self._secret, Events=self._events
            )
            if not login.ok:
                raise AmiUnavailable(f"login as {self._username!r} refused: {login.text}")
            self.connects += 1
            self._connected.set()
            log.info("AMI connected to %s:%d (%s)", self.host, self.port, self.banner)
            await reading
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading

    async def _read(self, reader: asyncio.StreamReader, parser: AmiParser) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionResetError("AMI closed the connection")
                items, error = parser.feed_until_error(data)
                for item in items:
                    if isinstance(item, BannerReceived):
                        self.banner = item.text
                    else:
                        await self._dispatch(item)
                if error is not None:
                    raise error
        finally:
            self._fail_pending()  # e.g. the login still waiting when the socket died

    async def _dispatch(self, msg: AmiMessage) -> None:
        pending = self._pending.get(msg.action_id or "")
        if pending is not None and not pending.future.done():
            if msg.response is not None:
                response = AmiResponse(msg)
                if _starts_event_list(msg):
                    pending.response = response
                else:
                    pending.future.set_result(response)
                return
            if msg.event is not None and pending.response is not None:
                if _ends_event_list(msg):
                    pending.future.set_result(pending.response)
                else:
                    pending.response.events.append(msg)
                return
        if msg.event is not None and self._on_event is not None:
            try:
                result = self._on_event(msg)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("AMI event handler failed on %s", msg.event)

    def _drop(self) -> None:
        self._connected.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._fail_pending()

    def _fail_pending(self) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(AmiUnavailable("AMI connection lost"))


# --- queue membership (agent state from the browser console) ----------------------------------------------


class QueueMembers:
    """Agent state in a queue: ``QueueAdd`` (log in), ``QueuePause`` (pause / resume), ``QueueRemove`` (log out).

    Synchronous, one short AMI connection per action: the admin panel (WSGI threads, no event loop) calls it when an
    agent clicks a button, a few times per shift; ``hotline serve`` hands an instance to the panel. Raises
    AmiUnavailable when AMI cannot be reached; returns Asterisk's answer otherwise (``resp.ok``, ``resp.text``).
    """

    def __init__(self, host: str, port: int, username: str, secret: str, queue: str, timeout_s: float = 5.0) -> None:
        self.host, self.port, self.queue = host, port, queue
        self._username, self._secret, self._timeout_s = username, secret, timeout_s

    def add(self, interface: str, member_name: str, *, paused: bool = False) -> AmiResponse:
        return self._run("QueueAdd", Queue=self.queue, Interface=interface, MemberName=member_name,
                         Paused="true" if paused else "false")

    def pause(self, interface: str, paused: bool, reason: str = "") -> AmiResponse:
        fields: dict[str, object] = {"Queue": self.queue, "Interface": interface, "Paused": "true" if paused else "false"}
        if reason:
            fields["Reason"] = reason
        return self._run("QueuePause", **fields)

    def remove(self, interface: str) -> AmiResponse:
        return self._run("QueueRemove", Queue=self.queue, Interface=interface)

    def status(self, interface: str) -> AmiMessage | None:
        """The QueueMember entry of ``interface`` in our queue (``Paused``, ``Status``, ``InCall``), or None."""
        resp = self._run("QueueStatus", Queue=self.queue, Member=interface)
        for event in resp.events:
            if event.event == "QueueMember" and event.get("StateInterface", event.get("Location")) == interface:
                return event
        return None

    def available(self) -> int:
        """Members free to ring now (QueueSummary ``Available``: logged in, not paused, not on a call)."""
        resp = self._run("QueueSummary", Queue=self.queue)
        return sum(int(e.get("Available") or 0) for e in resp.events if e.get("Queue") == self.queue)

    def _run(self, name: str, **fields: object) -> AmiResponse:
        async def once() -> AmiResponse:
            client = AmiClient(self.host, self.port, self._username, self._secret, events="off",
                               action_timeout_s=self._timeout_s, backoff_max_s=self._timeout_s)
            await client.start()
            try:
                if not await client.wait_connected(self._timeout_s):
                    raise AmiUnavailable(f"AMI {self.host}:{self.port} not reachable")
                return await client.action(name, **fields)
            finally:
                await client.stop()

        return asyncio.run(once())
