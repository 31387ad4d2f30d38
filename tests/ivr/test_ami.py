"""AMI codec (every split), action encoding, and the reconnecting client against a real TCP peer speaking AMI."""

from __future__ import annotations

import asyncio
import functools

import pytest

from ivr.ami import (
    AmiClient,
    AmiMessage,
    AmiParser,
    AmiProtocolError,
    AmiUnavailable,
    BannerReceived,
    encode_action,
)
from tests.ivr.ami_peer import AmiPeer


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


STREAM = (
    b"Asterisk Call Manager/9.0.0\r\n"
    b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
    b"Event: Newchannel\r\nChannel: PJSIP/sipp-00000001\r\nCallerIDNum: 13800138000\r\n"
    b"Exten: 86909000\r\nUniqueid: 1764520000.1\r\n\r\n"
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: 2\r\n"
    b"Asterisk 22.10.1 built by debian\r\nSystem uptime: 5 seconds\r\n--END COMMAND--\r\n\r\n"
    b"Response: Success\r\nActionID: 3\r\nOutput: line one\r\nOutput: line: two\r\n\r\n"
)


def _check(items):
    assert items[0] == BannerReceived("Asterisk Call Manager/9.0.0")
    msgs = items[1:]
    assert [m.response or m.event for m in msgs] == ["Success", "FullyBooted", "Newchannel", "Follows", "Success"]
    assert msgs[0].action_id == "1"
    assert msgs[2]["Uniqueid"] == "1764520000.1"
    assert msgs[2].get("exten") == "86909000"  # keys are case-insensitive
    assert msgs[3].output == ("Asterisk 22.10.1 built by debian", "System uptime: 5 seconds")
    assert msgs[3].action_id == "2"
    assert msgs[4].get_all("Output") == ["line one", "line: two"]


def test_whole_stream():
    _check(AmiParser().feed(STREAM))


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_split_point(cut):
    parser = AmiParser()
    _check(parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:]))


def test_bare_newlines_and_end_command_glued_to_output():
    data = b"Asterisk Call Manager/2.10.6\nResponse: Follows\nActionID: 9\nlast line--END COMMAND--\n\n"
    items = AmiParser().feed(data)
    assert items[1].output == ("last line",)


@pytest.mark.parametrize(
    "data",
    [b"SSH-2.0-OpenSSH\r\n", b"Asterisk Call Manager/9.0.0\r\nnot a header line\r\n", b"x" * 70000],
)
def test_non_ami_raises(data):
    with pytest.raises(AmiProtocolError):
        AmiParser().feed(data)


def test_encode_action_is_byte_exact():
    assert encode_action("QueueStatus", "hotline-7", Queue="hotline-agents") == (
        b"Action: QueueStatus\r\nActionID: hotline-7\r\nQueue: hotline-agents\r\n\r\n"
    )
    assert encode_action("Originate", "a", Variable=["A=1", "B=2"]) == (
        b"Action: Originate\r\nActionID: a\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"
    )


def test_encode_refuses_header_injection():
    with pytest.raises(ValueError):
        encode_action("Command", "1", Command="core show uptime\r\nAction: Logoff")


# --- client against a real TCP peer ----------------------------------------------------------------------------


def _client(port: int, secret: str = "s3cret", events: list | None = None, **kw) -> AmiClient:
    async def on_event(msg: AmiMessage) -> None:
        if events is not None:
            events.append(msg.event)

    return AmiClient("127.0.0.1", port, "hotline", secret, on_event, backoff_min_s=0.05, backoff_max_s=0.2, **kw)


@aio
async def test_login_actions_events_and_event_lists():
    ami = AmiPeer()
    await ami.start()
    events: list[str] = []
    client = _client(ami.port, events=events)
    await client.start()
    try:
        assert await client.wait_connected(5)
        assert client.banner == "Asterisk Call Manager/9.0.0"
        login = ami.actions[0]
        assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == (
            "Login", "hotline", "s3cret", "on")

        status = await client.action("QueueStatus", Queue="hotline-agents")
        assert status.ok
        assert [e.event for e in status.events] == ["QueueParams", "QueueMember"]
        assert status.events[1]["Name"] == "agent1"

        out = await client.action("Command", Command="core show version")
        assert out.output == ["Asterisk 22.10.1"]

        bad = await client.action("NoSuchAction")
        assert not bad.ok and bad.text == "Invalid/unknown command"

        await ami.event(("Event", "Hangup"), ("Channel", "PJSIP/x-1"), ("Cause", "16"))
        for _ in range(50):
            if "Hangup" in events:
                break
            await asyncio.sleep(0.02)
        assert events == ["Newstate", "Hangup"]
    finally:
        await client.stop()
        await ami.stop()
    assert ami.actions[-1]["Action"] == "Logoff"


@aio
async def test_concurrent_actions_are_matched_by_action_id():
    ami = AmiPeer()
    await ami.start()
    client = _client(ami.port)
    await client.start()
    try:
        assert await client.wait_connected(5)
        results = await asyncio.gather(*(client.action("Command", Command=f"c{i}") for i in range(10)),
                                       client.action("QueueStatus"))
        assert all(r.ok for r in results)
        ids = [r.message.action_id for r in results]
        assert len(set(ids)) == 11
        assert len(results[-1].events) == 2
    finally:
        await client.stop()
        await ami.stop()


@aio
async def test_ami_down_fails_fast_then_reconnects():
    ami = AmiPeer()
    await ami.start()
    port = ami.port
    await ami.stop()  # nothing listens on the port now
    client = _client(port)
    await client.start()
    try:
        # Refused at once as "not connected", not after waiting out an action timeout or a reconnect.
        with pytest.raises(AmiUnavailable, match="is not connected"):
            await client.action("Command", Command="core show version")
        assert not client.connected

        ami = AmiPeer()
        await ami.start(port)  # AMI comes back: the client logs in without being told
        assert await client.wait_connected(5)
        assert (await client.action("Command", Command="x")).ok

        await ami.stop()  # and goes away again
        for _ in range(100):
            if not client.connected:
                break
            await asyncio.sleep(0.02)
        with pytest.raises(AmiUnavailable):
            await client.action("Command", Command="x")

        ami = AmiPeer()
        await ami.start(port)
        assert await client.wait_connected(5)
        assert client.connects == 2
    finally:
        await client.stop()
        await ami.stop()


@aio
async def test_connection_lost_mid_action_raises_unavailable():
    ami = AmiPeer()
    ami.silent.add("command")
    await ami.start()
    client = _client(ami.port)
    await client.start()
    try:
        assert await client.wait_connected(5)
        pending = asyncio.create_task(client.action("Command", Command="x"))
        await asyncio.sleep(0.1)
        for w in ami.writers:
            w.close()
        with pytest.raises(AmiUnavailable):
            await pending
    finally:
        await client.stop()
        await ami.stop()


@aio
async def test_wrong_secret_never_connects():
    ami = AmiPeer(secret="right")
    await ami.start()
    client = _client(ami.port, secret="wrong")
    await client.start()
    try:
        assert not await client.wait_connected(0.5)
        assert ami.logins == 0
        assert sum(1 for a in ami.actions if a["Action"] == "Login") >= 2  # it keeps retrying, backing off
        with pytest.raises(AmiUnavailable):
            await client.action("Command", Command="x")
    finally:
        await client.stop()
        await ami.stop()


@aio
async def test_action_timeout_is_unavailable():
    ami = AmiPeer()
    ami.silent.add("command")
    await ami.start()
    client = _client(ami.port, action_timeout_s=0.2)
    await client.start()
    try:
        assert await client.wait_connected(5)
        with pytest.raises(AmiUnavailable):
            await client.action("Command", Command="x")
    finally:
        await client.stop()
        await ami.stop()
