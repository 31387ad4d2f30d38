"""Browser softphone and web caller, server side: derived SIP credentials, pjsip sections, the panel's JSON/SSE
endpoints, the screen-pop, callbacks from an open call, and the public page's limits. The browser + Asterisk
path itself is in tests/integration/test_webrtc.py."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from admin import create_app
from admin.services import agent_phone
from hotline.config import Settings
from hotline.models import AuditLog, CallbackTask, utcnow
from tests.admin.conftest import csrf_token, login

SECRET = "test-webrtc-secret-0123456789"
WS = "wss://127.0.0.1:8089/ws"


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(dataclasses.replace(settings, webrtc_ws_url=WS, webrtc_secret=SECRET))


def _events(resp, count: int) -> list[dict]:
    """The first ``count`` ``data:`` messages of an event stream, then the stream is closed."""
    out: list[dict] = []
    for chunk in resp.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        out += [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
        if len(out) >= count:
            break
    resp.close()
    return out


# --- credentials and pjsip sections -------------------------------------------------------------------------


def test_passwords_are_derived_per_agent_and_secret():
    one = agent_phone.sip_password(SECRET, "agent1")
    assert one == agent_phone.sip_password(SECRET, "agent1") and len(one) == 24
    assert one != agent_phone.sip_password(SECRET, "agent2")
    assert one != agent_phone.sip_password(SECRET + "x", "agent1")
    assert agent_phone.guest_password(SECRET) not in (one, agent_phone.guest_password("other"))
    with pytest.raises(agent_phone.AgentPhoneError):
        agent_phone.sip_password("", "agent1")


@pytest.mark.parametrize("bad", ["", "a b", "agent1]\n[evil", "x" * 41, "王 五", "王五]\n[evil", "张" * 40])
def test_usernames_that_cannot_be_endpoints_are_refused(bad: str):
    with pytest.raises(agent_phone.AgentPhoneError):
        agent_phone.endpoint_name(bad)


def test_chinese_usernames_get_distinct_ascii_endpoints_no_plain_name_can_take():
    names = ["王五", "张伟", "章伟", "张伟2", "xn-agent", "agent1"]
    endpoints = [agent_phone.endpoint_name(n) for n in names]
    assert len(set(endpoints)) == len(names)
    assert all(e.isascii() and e.startswith("webrtc-") for e in endpoints)
    # The encoded form of a Chinese name, typed as a plain username, does not get that name's endpoint.
    coded = agent_phone.endpoint_name("王五").removeprefix("webrtc-")
    assert agent_phone.endpoint_name(coded) != agent_phone.endpoint_name("王五")
    assert agent_phone.sip_password(SECRET, coded) != agent_phone.sip_password(SECRET, "王五")
    assert f"[{agent_phone.endpoint_name('王五')}](webrtc-agent-template)" in agent_phone.pjsip_conf(SECRET, ["王五"])


def test_pjsip_conf_has_the_guest_and_one_endpoint_per_agent():
    text = agent_phone.pjsip_conf(SECRET, ["agent2", "agent1", "agent1"])
    assert text.count("(webrtc-agent-template)") == 2 and text.count("(webrtc-agent-aor-template)") == 2
    assert "[webrtc-agent1](webrtc-agent-template)\nauth = webrtc-agent1-auth\naors = webrtc-agent1" in text
    assert f"password = {agent_phone.sip_password(SECRET, 'agent2')}" in text
    assert f"[webcall-guest-auth]\ntype = auth\nauth_type = userpass\nusername = webcall-guest\n" \
           f"password = {agent_phone.guest_password(SECRET)}" in text
    assert SECRET not in text


def test_sip_host_and_certificate_url_follow_the_websocket_url():
    assert agent_phone.sip_host(WS) == "127.0.0.1"
    assert agent_phone.sip_host("wss://pbx.example.gov.cn/ws") == "pbx.example.gov.cn"
    assert agent_phone.certificate_url(WS) == "https://127.0.0.1:8089/ws"


def test_unreachable_asterisk_is_reported_not_raised():
    assert agent_phone.asterisk_reachable("wss://127.0.0.1:9/ws", timeout_s=0.5) is False


# --- agent console ------------------------------------------------------------------------------------------


def test_phone_json_gives_the_logged_in_agent_its_own_identity(agent_client):
    resp = agent_client.get("/agent/phone.json")
    data = resp.get_json()
    assert resp.status_code == 200
    assert data["phone"] == {"ws_url": WS, "uri": "sip:webrtc-agent1@127.0.0.1", "username": "webrtc-agent1",
                             "password": agent_phone.sip_password(SECRET, "agent1")}
    assert data["asterisk_reachable"] is False  # nothing listens on 8089 in unit tests
    assert "connect-src 'self' wss://127.0.0.1:8089" in resp.headers["Content-Security-Policy"]


def test_phone_json_says_when_webrtc_is_not_configured(settings: Settings, users):
    client = create_app(settings).test_client()
    login(client, "agent1")
    resp = client.get("/agent/phone.json")
    assert resp.status_code == 503 and "未配置" in resp.get_json()["error"]
    page = client.get("/agent/").get_data(as_text=True)
    assert 'id="softphone"' not in page and "jssip" not in page


def test_console_loads_the_vendored_jssip_not_a_cdn(agent_client):
    page = agent_client.get("/agent/").get_data(as_text=True)
    assert 'src="/static/vendor/jssip.min.js"' in page and 'id="softphone"' in page
    assert "//cdn" not in page and "unpkg" not in page
    js = agent_client.get("/static/vendor/jssip.min.js")
    assert js.status_code == 200 and b'version:"3.13.8"' in js.data
    js.close()


def test_agent_state_without_ami_is_a_clear_error(agent_client):
    token = csrf_token(agent_client, "/agent/")
    resp = agent_client.post("/agent/state", json={"action": "pause"}, headers={"X-CSRFToken": token})
    assert resp.status_code == 503 and "AMI" in resp.get_json()["error"]
    resp = agent_client.post("/agent/state", json={"action": "reboot"}, headers={"X-CSRFToken": token})
    assert resp.status_code == 400
    assert agent_client.post("/agent/state", json={"action": "pause"}).status_code == 400  # no CSRF token


def test_screen_pop_shows_the_waiting_callers_context_masked(agent_client, make_call, session):
    call = make_call(queue_state="ringing", queue_joined_at=utcnow() - timedelta(seconds=42), ended_at=None,
                     first_question="狗证怎么办", item_code="GA-001", item_name="养犬登记证核发",
                     escalation_reason="dtmf_0", caller_number="13912345678",
                     turns=[{"text": "狗证怎么办"}, {"speaker": "ivr", "text": "办理养犬登记证核发，主要带…"}])
    data = agent_client.get(f"/agent/calls/{call.call_uuid}.json").get_json()
    assert data["number"] == "139****5678" and data["question"] == "狗证怎么办"
    assert (data["item_code"], data["reason"]) == ("GA-001", "来电人按 0 转人工")
    assert data["waiting_s"] >= 42
    assert [t["speaker"] for t in data["transcript"]] == ["caller", "ivr"]
    assert agent_client.get("/agent/calls/no-such-call.json").status_code == 404


def test_callback_task_from_the_open_call(agent_client, make_call, session):
    call = make_call(ended_at=None, first_question="公积金怎么提取", item_code="GJJ-001", caller_number="13700001111")
    token = csrf_token(agent_client, "/agent/")
    resp = agent_client.post(f"/agent/calls/{call.call_uuid}/callback", json={"note": "明天上午回电"},
                             headers={"X-CSRFToken": token})
    assert resp.status_code == 200
    task = session.get(CallbackTask, resp.get_json()["task_id"])
    assert (task.number, task.question, task.item_code, task.status) == ("13700001111", "公积金怎么提取", "GJJ-001", "open")
    assert session.scalars(select(AuditLog).where(AuditLog.action == "callback_create")).one().username == "agent1"
    assert agent_client.post("/agent/calls/nope/callback", json={}, headers={"X-CSRFToken": token}).status_code == 409
    web = make_call(ended_at=None, caller_number="web" + "cd" * 12)
    resp = agent_client.post(f"/agent/calls/{web.call_uuid}/callback", json={}, headers={"X-CSRFToken": token})
    assert resp.status_code == 409 and "没有电话号码" in resp.get_json()["error"]


def test_console_events_push_the_waiting_queue(agent_client, make_call, session):
    make_call(queue_state="waiting", queue_joined_at=utcnow(), ended_at=None, first_question="社保卡怎么补办",
              caller_number="13800009999")
    resp = agent_client.get("/agent/events", buffered=False)
    assert resp.mimetype == "text/event-stream"
    first = _events(resp, 1)[0]
    assert [c["question"] for c in first["callers"]] == ["社保卡怎么补办"]
    assert first["callers"][0]["number"] == "138****9999"


def test_console_events_need_a_login(app):
    assert app.test_client().get("/agent/events").status_code == 302


# --- public web caller page ---------------------------------------------------------------------------------


def test_web_caller_page_is_public_and_hands_out_only_the_guest(app, users):
    client = app.test_client()
    page = client.get("/call/")
    assert page.status_code == 200 and "拨打 86909000" in page.get_data(as_text=True)
    token = csrf_token(client, "/call/")
    data = client.post("/call/start", headers={"X-CSRFToken": token}).get_json()
    assert data["phone"]["username"] == "webcall-guest" and data["number"] == "86909000"
    assert data["phone"]["password"] == agent_phone.guest_password(SECRET)
    assert len(data["token"]) == 24 and int(data["token"], 16) >= 0
    assert client.get("/agent/").status_code == 302 and client.get("/calls/").status_code == 302


def test_web_caller_starts_are_rate_limited(app):
    client = app.test_client()
    token = csrf_token(client, "/call/")
    codes = [client.post("/call/start", headers={"X-CSRFToken": token}).status_code for _ in range(8)]
    assert codes == [200] * 6 + [429, 429]


def test_web_caller_sees_only_its_own_call_transcript(app, make_call):
    client = app.test_client()
    assert client.get("/call/transcript").status_code == 404  # no call started in this session
    token = client.post("/call/start", headers={"X-CSRFToken": csrf_token(client, "/call/")}).get_json()["token"]
    make_call(caller_number="web" + "0" * 24, turns=[{"text": "别人的问题"}])
    make_call(caller_number=f"web{token}", ended_at=None, item_name="养犬登记证核发",
              turns=[{"text": "狗证怎么办"}, {"speaker": "ivr", "text": "办理养犬登记证核发…"}])
    data = _events(client.get("/call/transcript", buffered=False), 1)[0]
    assert data["state"] == "live" and data["item_name"] == "养犬登记证核发"
    assert [t["text"] for t in data["turns"]] == ["狗证怎么办", "办理养犬登记证核发…"]


def test_web_caller_page_without_webrtc_says_so(settings: Settings):
    client = create_app(settings).test_client()
    assert "网页呼叫暂未开通" in client.get("/call/").get_data(as_text=True)
    resp = client.post("/call/start", headers={"X-CSRFToken": csrf_token(client, "/call/")})
    assert resp.status_code == 503


def test_screen_pop_names_a_web_caller_instead_of_masking_its_token(agent_client, make_call):
    call = make_call(caller_number="web" + "ab" * 12, ended_at=None, queue_state="ringing")
    assert agent_client.get(f"/agent/calls/{call.call_uuid}.json").get_json()["number"] == "网页来电（无电话号码）"


def test_event_streams_are_capped_and_released(agent_client, app):
    from admin.views import agent_events

    first = agent_client.get("/agent/events", buffered=False)
    assert first.status_code == 200 and app.extensions["sse_streams"].open == 1
    app.extensions["sse_streams"].limit = 1
    assert agent_client.get("/agent/events").status_code == 503  # the console falls back to polling
    _events(first, 1)  # reading then closing the stream releases its slot
    assert app.extensions["sse_streams"].open == 0
    assert agent_client.get("/agent/events", buffered=False).status_code == 200
    assert agent_events.MAX_STREAMS >= 8
