"""FastAGI: Asterisk's ``AGI(agi://host:port/route,args)`` over TCP — a sans-IO codec, commands and a server.

Wire protocol: Asterisk connects and sends ``agi_key: value`` lines ending with a blank line (``agi_network_script``
is the route, ``agi_arg_1..N`` the dialplan arguments). Then we write one command line at a time and read one reply:

* ``200 result=N [(data)] [key=value ...]`` — e.g. ``200 result=1 (some value)``, ``200 result=0 endpos=8000``
* ``510 Invalid or unknown command``                              -> AgiInvalidCommand
* ``511 Command Not Permitted on a dead channel ...``             -> AgiDeadChannel (a hang-up, not a bug)
* ``520-Invalid command syntax.  Proper usage follows:`` ... ``520 End of proper usage.``  -> AgiUsageError
* ``HANGUP`` may arrive at any time on FastAGI when the caller hangs up -> the session marks itself hung up and the
  command that fails because of it raises AgiHangup. Hang-ups are a normal branch: AgiHangup is not an AgiError.

Commands follow pystrix: one class per AGI command that renders its wire line and parses its reply
(``Answer``, ``SetVariable``, ``GetVariable``, ``Verbose``, ``Hangup``, ``StreamFile``, ``SetCallerIdName``, ``Exec``).

Server::

    async def call_start(session: AgiSession) -> None:
        await session.set_variable("HOTLINE_ROUTE", "queue")
    server = FastAgiServer("127.0.0.1", 4573, {"call-start": call_start})
    await server.start(); ...; await server.stop()

When the handler returns, the server closes the socket and Asterisk continues with the next dialplan priority.

Bounds: a line longer than ``MAX_LINE``, an environment larger than ``MAX_ENV_BYTES`` or not complete within
``env_timeout_s``, and a reply that does not come within ``reply_timeout_s`` (commands that play or run an
application excepted) each close the connection with one logged line naming the peer and the reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.errors import IvrError, ProtocolError
from ivr.sockets import TcpServer

log = logging.getLogger(__name__)

MAX_LINE = 8192
MAX_ENV_BYTES = 65536
ENV_TIMEOUT_S = 10.0  # Asterisk sends its whole environment at once; a peer dripping lines is cut off
REPLY_TIMEOUT_S = 30.0  # our commands (SET/GET VARIABLE, VERBOSE...) answer at once; STREAM FILE and EXEC wait


class AgiProtocolError(ProtocolError):
    """Asterisk (or whatever connected) sent something that is not AGI."""


class AgiError(IvrError):
    """A command failed on a live channel."""


class AgiInvalidCommand(AgiError):
    """510: Asterisk does not know the command."""


class AgiUsageError(AgiError):
    """520: the command's arguments were wrong; ``usage`` holds Asterisk's usage text."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class AgiAppError(AgiError):
    """The command ran but reported failure (result=-1 on a live channel, EXEC of an unknown app)."""


class AgiHangup(IvrError):
    """The caller hung up or the connection closed; end the handler quietly."""


class AgiDeadChannel(AgiHangup):
    """511: the channel is already dead."""


# --- codec ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgiReply:
    code: int
    result: str = ""
    data: str | None = None
    extras: dict[str, str] = field(default_factory=dict)
    text: str = ""  # everything after the code, for messages
    usage: str = ""  # 520 usage block

    @property
    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            raise AgiProtocolError(f"non-numeric AGI result {self.result!r}") from None


@dataclass(frozen=True)
class EnvironmentReceived:
    env: dict[str, str]


@dataclass(frozen=True)
class ReplyReceived:
    reply: AgiReply


@dataclass(frozen=True)
class HangupNotified:
    pass


AgiEvent = EnvironmentReceived | ReplyReceived | HangupNotified

_REPLY = re.compile(r"^(\d{3})(?:[ -](.*))?$")
_RESULT = re.compile(r"^result=(\S*)(?: \((.*)\))?(.*)$")


def parse_reply_line(line: str) -> AgiReply:
    """Parse one single-line reply (``200 result=...``, ``510 ...``, ``511 ...``)."""
    m = _REPLY.match(line)
    if not m:
        raise AgiProtocolError(f"not an AGI reply: {line[:80]!r}")
    code, text = int(m.group(1)), m.group(2) or ""
    if code != 200:
        return AgiReply(code, text=text)
    r = _RESULT.match(text)
    if not r:
        raise AgiProtocolError(f"200 reply without result=: {line[:80]!r}")
    extras = dict(tok.split("=", 1) for tok in r.group(3).split() if "=" in tok)
    return AgiReply(200, result=r.group(1), data=r.group(2), extras=extras, text=text)


class AgiParser:
    """Incremental decoder for what Asterisk sends: the environment block, then replies and HANGUP notices."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._env: dict[str, str] | None = {}
        self._env_bytes = 0
        self._usage: list[str] | None = None

    @property
    def in_environment(self) -> bool:
        return self._env is not None

    def feed(self, data: bytes) -> list[AgiEvent]:
        self._buf += data
        events: list[AgiEvent] = []
        while True:
            nl = self._buf.find(b"\n")
            # Checked whether or not the line's end arrived in the same read: the verdict must not depend on
            # how TCP split the bytes.
            if (nl if nl >= 0 else len(self._buf)) > MAX_LINE:
                raise AgiProtocolError(f"AGI line longer than {MAX_LINE} bytes")
            if nl < 0:
                return events
            raw = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            event = self._line(line, len(raw))
            if event is not None:
                events.append(event)

    def _line(self, line: str, size: int) -> AgiEvent | None:
        if self._env is not None:
            if line == "":
                env, self._env = self._env, None
                return EnvironmentReceived(env)
            self._env_bytes += size
            if self._env_bytes > MAX_ENV_BYTES:
                raise AgiProtocolError("AGI environment too large")
            key, sep, value = line.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"bad AGI environment line: {line[:80]!r}")
            self._env[key.strip()] = value.strip()
            return None
        if self._usage is not None:
            if line.startswith("520 "):
                usage, self._usage = "\n".join(self._usage), None
                return ReplyReceived(AgiReply(520, text=line[4:], usage=usage))
            self._usage.append(line)
            if len(self._usage) > 200:
                raise AgiProtocolError("520 usage block without an end")
            return None
        if line.strip() == "HANGUP":
            return HangupNotified()
        if line == "":
            return None  # tolerate stray blank lines between replies
        if line.startswith("520-"):
            self._usage = []
            return None
        return ReplyReceived(parse_reply_line(line))


def quote(value: object) -> str:
    """Quote one argument the way Asterisk's AGI argument parser unquotes it; newlines would end the command."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- commands ------------------------------------------------------------------------------------------------


class AgiCommand:
    """One AGI command: ``line()`` is what goes on the wire, ``parse(reply)`` turns a 200 reply into a value."""

    waits = False  # True: the reply comes when the caller has listened or the application ended (no timeout)

    def line(self) -> str:
        raise NotImplementedError

    def parse(self, reply: AgiReply) -> Any:
        result = reply.result_int
        if result == -1:
            raise AgiAppError(f"{self.line().split()[0]} failed: {reply.text}")
        return result


class Answer(AgiCommand):
    def line(self) -> str:
        return "ANSWER"


@dataclass(frozen=True)
class SetVariable(AgiCommand):
    name: str
    value: object

    def line(self) -> str:
        return f"SET VARIABLE {quote(self.name)} {quote(self.value)}"


class SetCallerIdName(SetVariable):
    """Shown on the agent's phone; set through the CALLERID(name) dialplan function."""

    def __init__(self, name: str) -> None:
        super().__init__("CALLERID(name)", name)


@dataclass(frozen=True)
class GetVariable(AgiCommand):
    name: str

    def line(self) -> str:
        return f"GET VARIABLE {quote(self.name)}"

    def parse(self, reply: AgiReply) -> str | None:
        # result=0: not set; result=1 (value)
        return reply.data if reply.result_int == 1 else None


@dataclass(frozen=True)
class Verbose(AgiCommand):
    message: str
    level: int = 1

    def line(self) -> str:
        return f"VERBOSE {quote(self.message)} {self.level}"


@dataclass(frozen=True)
class Hangup(AgiCommand):
    channel: str | None = None

    def line(self) -> str:
        return "HANGUP" if self.channel is None else f"HANGUP {quote(self.channel)}"


@dataclass(frozen=True)
class StreamResult:
    digit: str | None  # escape digit pressed, or None when the file played to the end
    endpos: int | None


@dataclass(frozen=True)
class StreamFile(AgiCommand):
    waits = True
    filename: str  # without extension, relative to the sounds dir or absolute
    escape_digits: str = ""
    offset: int | None = None

    def line(self) -> str:
        tail = "" if self.offset is None else f" {self.offset}"
        return f"STREAM FILE {quote(self.filename)} {quote(self.escape_digits)}{tail}"

    def parse(self, reply: AgiReply) -> StreamResult:
        result = reply.result_int
        endpos = int(reply.extras["endpos"]) if reply.extras.get("endpos", "").isdigit() else None
        if result == -1:
            raise AgiAppError(f"STREAM FILE {self.filename} failed (missing file or hung up)")
        return StreamResult(chr(result) if result > 0 else None, endpos)


@dataclass(frozen=True)
class Exec(AgiCommand):
    waits = True
    application: str
    options: str = ""

    def line(self) -> str:
        return f"EXEC {self.application} {quote(self.options)}"

    def parse(self, reply: AgiReply) -> int:
        result = reply.result_int
        if result == -2:
            raise AgiAppError(f"EXEC {self.application}: no such application")
        return result


# --- session and server --------------------------------------------------------------------------------------


class AgiSession:
    """One FastAGI connection: the channel's environment plus ``run(command)``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: Mapping[str, str],
        parser: AgiParser | None = None,
        pending: Iterable[AgiEvent] = (),
        reply_timeout_s: float | None = REPLY_TIMEOUT_S,
    ) -> None:
        self._reader = reader
        self.reply_timeout_s = reply_timeout_s
        self._writer = writer
        self._parser = parser or AgiParser()
        self._pending: deque[AgiEvent] = deque(pending)  # events that arrived with the environment
        self.env: dict[str, str] = dict(env)
        self.hung_up = False

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "").strip("/")

    @property
    def args(self) -> list[str]:
        numbered = []
        for key, value in self.env.items():
            if key.startswith("agi_arg_") and key[8:].isdigit():
                numbered.append((int(key[8:]), value))
        return [value for _, value in sorted(numbered)]

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    @property
    def channel(self) -> str:
        return self.env.get("agi_channel", "")

    async def _next_event(self) -> AgiEvent:
        while not self._pending:
            try:
                data = await self._reader.read(4096)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.hung_up = True
                raise AgiHangup("AGI connection closed by Asterisk")
            self._pending.extend(self._parser.feed(data))
        return self._pending.popleft()

    async def run(self, command: AgiCommand) -> Any:
        """Send one command and return its parsed reply; raises AgiHangup when the caller is gone."""
        if self._writer.is_closing():
            raise AgiHangup("AGI connection closed")
        try:
            self._writer.write(command.line().encode("utf-8") + b"\n")
            await self._writer.drain()
        except (ConnectionError, OSError):
            self.hung_up = True
            raise AgiHangup("AGI connection closed by Asterisk") from None
        while True:
            try:
                event = await asyncio.wait_for(self._next_event(), None if command.waits else self.reply_timeout_s)
            except TimeoutError:
                raise AgiProtocolError(f"no reply to {command.line()[:40]!r} within {self.reply_timeout_s:g} s") from None
            if isinstance(event, HangupNotified):
                self.hung_up = True
                continue
            if isinstance(event, ReplyReceived):
                return self._result(command, event.reply)
            raise AgiProtocolError("second AGI environment block on one connection")

    def _result(self, command: AgiCommand, reply: AgiReply) -> Any:
        if reply.code == 510:
            raise AgiInvalidCommand(f"{command.line()!r}: {reply.text}")
        if reply.code == 511:
            self.hung_up = True
            raise AgiDeadChannel(reply.text or "dead channel")
        if reply.code == 520:
            raise AgiUsageError(f"{command.line()!r}: invalid syntax", reply.usage)
        if reply.code != 200:
            raise AgiProtocolError(f"unexpected AGI reply code {reply.code}: {reply.text}")
        try:
            return command.parse(reply)
        except AgiAppError:
            if self.hung_up:
                raise AgiHangup("caller hung up") from None
            raise

    async def answer(self) -> None:
        await self.run(Answer())

    async def set_variable(self, name: str, value: object) -> None:
        await self.run(SetVariable(name, value))

    async def get_variable(self, name: str) -> str | None:
        return await self.run(GetVariable(name))

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.run(Verbose(message, level))

    async def hangup(self) -> None:
        await self.run(Hangup())


AgiHandler = Callable[[AgiSession], Awaitable[None]]


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


class FastAgiServer(TcpServer):
    """Routes each FastAGI connection by ``agi_network_script`` to an async handler."""

    def __init__(self, host: str, port: int, routes: Mapping[str, AgiHandler], *,
                 env_timeout_s: float = ENV_TIMEOUT_S, reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        super().__init__(host, port, name="fastagi")
        self.routes = dict(routes)
        self.env_timeout_s = env_timeout_s
        self.reply_timeout_s = reply_timeout_s

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        parser = AgiParser()
        try:
            got = await asyncio.wait_for(self._read_env(reader, parser), timeout=self.env_timeout_s)
        except TimeoutError:
            log.warning("FastAGI %s: closing, no complete AGI environment within %g s", peer, self.env_timeout_s)
            return
        except AgiProtocolError as exc:
            log.warning("FastAGI %s: closing, malformed environment: %s", peer, exc)
            return
        if got is None:
            log.info("FastAGI %s: closed before sending its environment", peer)
            return
        env, pending = got
        session = AgiSession(reader, writer, env, parser, pending, self.reply_timeout_s)
        handler = self.routes.get(session.script)
        if handler is None:
            log.warning("FastAGI %s: no route %r (channel %s); returning to the dialplan", peer, session.script[:80],
                        session.channel[:80])
            return
        try:
            await handler(session)
        except AgiHangup:
            log.info("FastAGI %s: caller hung up (channel %s)", session.script, session.channel)
        except AgiProtocolError as exc:
            log.warning("FastAGI %s: closing %s, malformed reply: %s", peer, session.script, exc)

    @staticmethod
    async def _read_env(
        reader: asyncio.StreamReader, parser: AgiParser
    ) -> tuple[dict[str, str], list[AgiEvent]] | None:
        while True:
            data = await reader.read(4096)
            if not data:
                return None
            events = parser.feed(data)
            if events and isinstance(events[0], EnvironmentReceived):
                return events[0].env, events[1:]
