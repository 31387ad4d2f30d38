"""Agent console: waiting callers (own ringing phone first, masked numbers) and callback tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline.models import AuditLog, CallbackTask, CallEvent, utcnow
from tests.admin.conftest import csrf_token


def _waiting(make_call, session, **fields):
    call = make_call(**fields)
    call.ended_at = None
    session.commit()
    return call


def test_queue_json_lists_waiting_callers_with_own_ringing_call_first(agent_client, make_call, session):
    now = utcnow()
    longest = _waiting(make_call, session, queue_state="waiting", queue_joined_at=now - timedelta(seconds=90),
                       first_question="社保卡怎么补办", item_code="RS-001",
                       turns=[{"text": "社保卡丢了"}, {"text": "怎么补办"}])
    mine = _waiting(make_call, session, queue_state="ringing", queue_joined_at=now - timedelta(seconds=10),
                    caller_number="13700001234")
    session.add(CallEvent(call_id=mine.id, source="ami", name="AgentCalled",
                          data={"Interface": "PJSIP/agent1", "DestChannel": "PJSIP/agent1-00000007"}))
    other = _waiting(make_call, session, queue_state="ringing", queue_joined_at=now - timedelta(seconds=30))
    session.add(CallEvent(call_id=other.id, source="ami", name="AgentCalled", data={"Interface": "PJSIP/agent9"}))
    make_call(queue_state="connected")  # not waiting
    ended = make_call(queue_state="waiting")  # ended (hung up) calls never show
    assert ended.ended_at is not None
    session.commit()

    data = agent_client.get("/agent/queue.json").get_json()
    ids = [c["call_id"] for c in data["callers"]]
    assert ids == [mine.id, longest.id, other.id]
    first, second = data["callers"][0], data["callers"][1]
    assert first["mine"] is True and first["number"] == "137****1234"
    assert second["transcript"] == ["社保卡丢了", "怎么补办"] and second["waiting_s"] >= 89
    assert not any(c["mine"] for c in data["callers"][1:])


def test_console_page_polls_with_static_script(agent_client):
    html = agent_client.get("/agent/").get_data(as_text=True)
    assert '/static/agent.js' in html and 'data-src="/agent/queue.json"' in html
    js = agent_client.get("/static/agent.js").get_data(as_text=True)
    assert "textContent" in js and "innerHTML" not in js


def test_callback_marked_done_once_and_audited(agent_client, session):
    task = CallbackTask(number="13812345678", question="公积金提取")
    session.add(task)
    session.commit()
    html = agent_client.get("/agent/").get_data(as_text=True)
    assert "公积金提取" in html
    token = csrf_token(agent_client, "/agent/")
    resp = agent_client.post(f"/agent/callbacks/{task.id}", data={"csrf_token": token, "status": "done", "note": "已解答"})
    assert resp.status_code == 302
    session.expire_all()
    task = session.get(CallbackTask, task.id)
    assert (task.status, task.handled_by, task.note) == ("done", "agent1", "已解答")
    log = session.query(AuditLog).filter_by(target=f"callback:{task.id}").one()
    assert log.before["status"] == "open" and log.after["status"] == "done"
    # second marking is refused, state unchanged
    agent_client.post(f"/agent/callbacks/{task.id}", data={"csrf_token": token, "status": "failed"})
    session.expire_all()
    assert session.get(CallbackTask, task.id).status == "done"
    assert "公积金提取" not in agent_client.get("/agent/").get_data(as_text=True)


def test_callback_post_without_token_changes_nothing(agent_client, session):
    task = CallbackTask(number="13812345678")
    session.add(task)
    session.commit()
    assert agent_client.post(f"/agent/callbacks/{task.id}", data={"status": "done"}).status_code == 400
    session.expire_all()
    assert session.get(CallbackTask, task.id).status == "open"


def test_console_shows_item_name_reason_and_context_summary_escaped(agent_client, make_call, session):
    _waiting(make_call, session, queue_state="waiting", item_code="GJJ-001", item_name="住房公积金提取",
             escalation_reason="dtmf_0", route="queue", context_summary="<b>公积金提取</b>：退休了怎么取")
    html = agent_client.get("/agent/").get_data(as_text=True)
    assert "GJJ-001 住房公积金提取" in html and "来电人按 0 转人工" in html
    assert "&lt;b&gt;公积金提取&lt;/b&gt;" in html and "<b>公积金提取</b>" not in html
    caller = agent_client.get("/agent/queue.json").get_json()["callers"][0]
    assert (caller["item_name"], caller["reason"], caller["summary"]) == (
        "住房公积金提取", "来电人按 0 转人工", "<b>公积金提取</b>：退休了怎么取")


@pytest.mark.parametrize("reason", ["caller_request", "dtmf_0", "asr_error", "asr_timeout", "qa_error", "tts_error",
                                    "booking_error", "lines_busy"])
def test_every_escalation_reason_the_ivr_records_reads_as_words(reason):
    """Agents see why a caller is waiting in Chinese words, not the IVR's code (ivr/flow.py, ivr/overflow.py)."""
    from admin.services.agent_console import escalation_label

    label = escalation_label(reason)
    assert label != reason and not any(c.isascii() and c.isalpha() for c in label)
