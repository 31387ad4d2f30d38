"""QueueMembers (the agent console's log in / pause / log out) on a real socket against the AMI peer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from ivr.ami import AmiUnavailable, QueueMembers
from scripts.ports import free_port
from tests.ivr.ami_peer import AmiPeer


@pytest.fixture
def peer() -> Iterator[AmiPeer]:
    """The peer on its own event loop thread: QueueMembers is synchronous and runs its own loop per action."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    p = AmiPeer(secret="s3cret", available=2)
    asyncio.run_coroutine_threadsafe(p.start(), loop).result(5)
    yield p
    asyncio.run_coroutine_threadsafe(p.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def _members(peer: AmiPeer, secret: str = "s3cret") -> QueueMembers:
    return QueueMembers("127.0.0.1", peer.port, "hotline", secret, "hotline-agents", timeout_s=2)


def test_actions_carry_the_queue_interface_and_state(peer: AmiPeer):
    members = _members(peer)
    members.add("PJSIP/webrtc-agent1", "agent1")
    members.pause("PJSIP/webrtc-agent1", True, "坐席暂停")
    members.pause("PJSIP/webrtc-agent1", False)
    members.remove("PJSIP/webrtc-agent1")
    sent = [m.as_dict() for m in peer.actions if m.get("Action") not in ("Login", "Logoff")]
    for m in sent:
        m.pop("ActionID", None)
    assert sent == [
        {"Action": "QueueAdd", "Queue": "hotline-agents", "Interface": "PJSIP/webrtc-agent1", "MemberName": "agent1",
         "Paused": "false"},
        {"Action": "QueuePause", "Queue": "hotline-agents", "Interface": "PJSIP/webrtc-agent1", "Paused": "true",
         "Reason": "坐席暂停"},
        {"Action": "QueuePause", "Queue": "hotline-agents", "Interface": "PJSIP/webrtc-agent1", "Paused": "false"},
        {"Action": "QueueRemove", "Queue": "hotline-agents", "Interface": "PJSIP/webrtc-agent1"},
    ]
    assert peer.logins == 4  # one short connection per click


def test_asterisk_refusals_are_returned_and_summary_is_read(peer: AmiPeer):
    resp = _members(peer).add("PJSIP/webrtc-agent1", "agent1")
    assert not resp.ok and resp.text  # the peer refuses QueueAdd: the view shows Asterisk's words
    assert _members(peer).available() == 2


def test_unreachable_or_refused_login_raises_ami_unavailable(peer: AmiPeer):
    with pytest.raises(AmiUnavailable):
        QueueMembers("127.0.0.1", free_port(), "hotline", "x", "hotline-agents", timeout_s=0.5).remove("PJSIP/a")
    with pytest.raises(AmiUnavailable):
        _members(peer, secret="wrong").remove("PJSIP/a")
