"""FastAGI codec (every split), commands' wire lines and reply parsing, and the server against a scripted peer."""

from __future__ import annotations

import asyncio
import functools

import pytest

from ivr.agi import (
    AgiAppError,
    AgiDeadChannel,
    AgiError,
    AgiHangup,
    AgiInvalidCommand,
    AgiParser,
    AgiProtocolError,
    AgiSession,
    AgiUsageError,
    Answer,
    EnvironmentReceived,
    Exec,
    FastAgiServer,
    GetVariable,
    Hangup,
    HangupNotified,
    ReplyReceived,
    SetCallerIdName,
    SetVariable,
    StreamFile,
    StreamResult,
    Verbose,
    parse_reply_line,
)


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


CALL = "3f2c1b4a-9d8e-4f70-a1b2-c3d4e5f60718"
ENV = (
    "agi_network: yes\n"
    "agi_network_script: call-start\n"
    "agi_request: agi://127.0.0.1:4573/call-start\n"
    "agi_channel: PJSIP/sipp-00000001\n"
    "agi_language: en\n"
    "agi_type: PJSIP\n"
    "agi_uniqueid: 1764520000.1\n"
    "agi_version: 22.10.1\n"
    "agi_callerid: 13800138000\n"
    "agi_calleridname: unknown\n"
    "agi_context: hotline-test-phones\n"
    "agi_extension: 86909000\n"
    "agi_priority: 3\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 140123456789\n"
    f"agi_arg_1: {CALL}\n"
    "agi_arg_2: a b, c\n"
    "\n"
).encode()
REPLIES = (
    b"200 result=1\n"
    b"200 result=1 (hello world (twice))\n"
    b"HANGUP\n"
    b"200 result=0 endpos=8000\n"
    b"510 Invalid or unknown command\n"
    b"511 Command Not Permitted on a dead channel or intercept routine\n"
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]\n"
    b"520 End of proper usage.\n"
)
STREAM = ENV + REPLIES


def _expected_env() -> dict[str, str]:
    env = {}
    for line in ENV.decode().splitlines():
        if line:
            key, _, value = line.partition(":")
            env[key] = value.strip()
    return env


def _check(events):
    assert isinstance(events[0], EnvironmentReceived)
    env = events[0].env
    assert env == _expected_env()
    assert env["agi_network_script"] == "call-start"
    assert env["agi_accountcode"] == ""
    kinds = [type(e).__name__ for e in events[1:]]
    assert kinds == ["ReplyReceived", "ReplyReceived", "HangupNotified"] + ["ReplyReceived"] * 4
    replies = [e.reply for e in events[1:] if isinstance(e, ReplyReceived)]
    assert [r.code for r in replies] == [200, 200, 200, 510, 511, 520]
    assert replies[1].data == "hello world (twice)"
    assert replies[2].extras == {"endpos": "8000"}
    assert "STREAM FILE" in replies[5].usage


def test_whole_stream():
    _check(AgiParser().feed(STREAM))


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_split_point(cut):
    parser = AgiParser()
    _check(parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:]))


def test_crlf_line_endings_are_accepted():
    events = AgiParser().feed(STREAM.replace(b"\n", b"\r\n"))
    _check(events)


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extras"),
    [
        ("200 result=0", 200, "0", None, {}),
        ("200 result=-1", 200, "-1", None, {}),
        ("200 result=1 (some value)", 200, "1", "some value", {}),
        ("200 result=49 endpos=12000", 200, "49", None, {"endpos": "12000"}),
        ("200 result=0 (timeout) endpos=0", 200, "0", "timeout", {"endpos": "0"}),
        ("510 Invalid or unknown command", 510, "", None, {}),
    ],
)
def test_reply_lines(line, code, result, data, extras):
    reply = parse_reply_line(line)
    assert (reply.code, reply.result, reply.data, reply.extras) == (code, result, data, extras)


@pytest.mark.parametrize("data", [b"agi_network yes\n", b"hello: there\n", b"x" * 9000])
def test_bad_environment_raises(data):
    with pytest.raises(AgiProtocolError):
        AgiParser().feed(data)


def test_garbage_reply_raises():
    with pytest.raises(AgiProtocolError):
        AgiParser().feed(b"agi_network: yes\n\nwhat is this\n")


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (Answer(), "ANSWER"),
        (SetVariable("HOTLINE_ROUTE", "queue"), 'SET VARIABLE "HOTLINE_ROUTE" "queue"'),
        (SetVariable("X", 'say "hi"\\now\nplease'), 'SET VARIABLE "X" "say \\"hi\\"\\\\now please"'),
        (SetCallerIdName("户籍 咨询"), 'SET VARIABLE "CALLERID(name)" "户籍 咨询"'),
        (GetVariable("CALL_UUID"), 'GET VARIABLE "CALL_UUID"'),
        (Verbose("hello", 3), 'VERBOSE "hello" 3'),
        (Hangup(), "HANGUP"),
        (Hangup("PJSIP/x-1"), 'HANGUP "PJSIP/x-1"'),
        (StreamFile("custom/hotline-wait", "#"), 'STREAM FILE "custom/hotline-wait" "#"'),
        (StreamFile("beep", "", 800), 'STREAM FILE "beep" "" 800'),
        (Exec("Playback", "beep,noanswer"), 'EXEC Playback "beep,noanswer"'),
    ],
)
def test_command_lines(command, line):
    assert command.line() == line


def test_command_reply_parsing():
    assert GetVariable("X").parse(parse_reply_line("200 result=1 (42)")) == "42"
    assert GetVariable("X").parse(parse_reply_line("200 result=0")) is None
    assert StreamFile("a").parse(parse_reply_line("200 result=35 endpos=1600")) == StreamResult("#", 1600)
    assert StreamFile("a").parse(parse_reply_line("200 result=0 endpos=9")) == StreamResult(None, 9)
    with pytest.raises(AgiAppError):
        StreamFile("a").parse(parse_reply_line("200 result=-1 endpos=0"))
    with pytest.raises(AgiAppError):
        Exec("Nope").parse(parse_reply_line("200 result=-2"))
    assert Answer().parse(parse_reply_line("200 result=0")) == 0


def test_hangup_is_not_an_agi_error():
    assert not issubclass(AgiHangup, AgiError)
    assert issubclass(AgiDeadChannel, AgiHangup)


# --- server against a peer that speaks Asterisk's exact bytes --------------------------------------------------


class FakeAsterisk:
    """Connects like Asterisk's AGI(): sends the environment, then answers each command from a script."""

    def __init__(self, port: int, script: str = "call-start", answers: dict[str, bytes] | None = None) -> None:
        self.port, self.script, self.answers = port, script, answers or {}
        self.commands: list[str] = []

    async def run(self, close_on: str | None = None) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(ENV.replace(b"call-start", self.script.encode()))
        await writer.drain()
        while line := await reader.readline():
            command = line.decode().rstrip("\n")
            self.commands.append(command)
            if close_on and command.startswith(close_on):
                break  # the caller vanished mid-command
            words = command.split()
            keys = [command, " ".join(words[:2]), words[0]]  # most specific scripted answer wins
            writer.write(next((self.answers[k] for k in keys if k in self.answers), b"200 result=1\n"))
            await writer.drain()
        writer.close()


async def _serve(routes):
    server = FastAgiServer("127.0.0.1", 0, routes)
    await server.start()
    return server


@aio
async def test_route_receives_env_args_and_runs_commands():
    seen: dict[str, object] = {}

    async def call_start(session: AgiSession) -> None:
        seen["args"] = session.args
        seen["script"] = session.script
        seen["uniqueid"] = session.uniqueid
        await session.answer()
        await session.set_variable("HOTLINE_ROUTE", "queue")
        seen["uuid"] = await session.get_variable("CALL_UUID")
        seen["missing"] = await session.get_variable("NOPE")
        await session.verbose("来电开始")

    server = await _serve({"call-start": call_start})
    peer = FakeAsterisk(
        server.port,
        answers={
            "ANSWER": b"200 result=0\n",
            'GET VARIABLE "CALL_UUID"': f"200 result=1 ({CALL})\n".encode(),
            'GET VARIABLE "NOPE"': b"200 result=0\n",
        },
    )
    try:
        await peer.run()
    finally:
        await server.stop()
    assert seen == {
        "args": [CALL, "a b, c"],
        "script": "call-start",
        "uniqueid": "1764520000.1",
        "uuid": CALL,
        "missing": None,
    }
    assert peer.commands == [
        "ANSWER",
        'SET VARIABLE "HOTLINE_ROUTE" "queue"',
        'GET VARIABLE "CALL_UUID"',
        'GET VARIABLE "NOPE"',
        'VERBOSE "来电开始" 1',
    ]


@aio
async def test_errors_map_to_exceptions():
    outcomes: list[str] = []

    async def route(session: AgiSession) -> None:
        for command, exc in [
            (Exec("Bogus"), AgiInvalidCommand),
            (StreamFile("x"), AgiUsageError),
        ]:
            try:
                await session.run(command)
            except exc as e:
                outcomes.append(type(e).__name__)
                if isinstance(e, AgiUsageError):
                    outcomes.append(e.usage.strip())
        try:
            await session.run(SetVariable("A", "1"))
        except AgiDeadChannel:
            outcomes.append("dead")
            raise

    server = await _serve({"call-route": route})
    peer = FakeAsterisk(
        server.port,
        "call-route",
        answers={
            "EXEC": b"510 Invalid or unknown command\n",
            "STREAM FILE": b"520-Invalid command syntax.  Proper usage follows:\n Usage: STREAM FILE\n"
            b"520 End of proper usage.\n",
            "SET VARIABLE": b"511 Command Not Permitted on a dead channel or intercept routine\n",
        },
    )
    try:
        await peer.run()
    finally:
        await server.stop()
    assert outcomes == ["AgiInvalidCommand", "AgiUsageError", "Usage: STREAM FILE", "dead"]


@aio
async def test_async_hangup_then_failed_command_is_a_hangup():
    result: list[object] = []

    async def route(session: AgiSession) -> None:
        try:
            await session.run(StreamFile("custom/hotline-welcome", "#"))
        except AgiHangup as exc:
            result.append(("hangup", session.hung_up, type(exc).__name__))

    server = await _serve({"call-route": route})
    peer = FakeAsterisk(server.port, "call-route", answers={"STREAM FILE": b"HANGUP\n200 result=-1 endpos=400\n"})
    try:
        await peer.run()
    finally:
        await server.stop()
    assert result == [("hangup", True, "AgiHangup")]


@aio
async def test_client_disconnects_mid_command():
    raised: list[str] = []
    done = asyncio.Event()

    async def route(session: AgiSession) -> None:
        try:
            await session.run(SetVariable("A", "1"))
        except AgiHangup:
            raised.append("hangup")
        finally:
            done.set()

    server = await _serve({"call-route": route})
    try:
        await FakeAsterisk(server.port, "call-route").run(close_on="SET VARIABLE")
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await server.stop()
    assert raised == ["hangup"]


@aio
async def test_unknown_route_returns_to_dialplan_and_server_survives():
    calls: list[str] = []

    async def ok(session: AgiSession) -> None:
        calls.append(session.script)

    server = await _serve({"call-start": ok})
    try:
        peer = FakeAsterisk(server.port, "no-such-route")
        await peer.run()  # the server closes at once: no commands
        assert peer.commands == []
        await FakeAsterisk(server.port, "call-start").run()
        # garbage instead of an environment: that connection is dropped, the server keeps serving
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        await FakeAsterisk(server.port, "call-start").run()
    finally:
        await server.stop()
    assert calls == ["call-start", "call-start"]


@aio
async def test_hangup_notice_before_any_command_is_kept():
    flags: list[bool] = []

    async def route(session: AgiSession) -> None:
        await session.verbose("x")
        flags.append(session.hung_up)

    server = await _serve({"call-start": route})
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ENV + b"HANGUP\n")
        await writer.drain()
        await reader.readline()
        writer.write(b"200 result=1\n")
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
    finally:
        await server.stop()
    assert flags == [True]
    assert HangupNotified() in AgiParser().feed(ENV + b"HANGUP\n")
