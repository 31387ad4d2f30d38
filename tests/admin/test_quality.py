"""Quality loop: the queue, "teach" changing what the real QA engine answers, dismiss, the test box."""

from __future__ import annotations

import re

from hotline.models import AuditLog
from hotline.models.admin import QualityReview
from kb.store import current_revision
from tests.admin.conftest import csrf_token

UNKNOWN = "帮我弄一下汪星人牌照"  # the sample KB abstains on this until it is taught


def _ask(client, question: str) -> str:
    token = csrf_token(client, "/quality/ask")
    return client.post("/quality/ask", data={"csrf_token": token, "question": question}).get_data(as_text=True)


def test_queue_holds_abstained_low_confidence_and_escalated_questions(admin_client, make_call):
    make_call(turns=[{"text": "问题甲", "abstained": True}])
    make_call(turns=[{"text": "问题乙", "qa_confidence": 0.2, "item_code": "GA-001"}])
    make_call(outcome="escalated", turns=[{"text": "问题丙", "qa_confidence": 0.9}])
    make_call(turns=[{"text": "问题丁", "qa_confidence": 0.95}])  # answered well: not in the queue
    make_call(turns=[{"speaker": "ivr", "text": "问题戊", "abstained": True}])  # IVR prompts are not questions
    html = admin_client.get("/quality/").get_data(as_text=True)
    for text in ("问题甲", "问题乙", "问题丙"):
        assert text in html
    assert "问题丁" not in html and "问题戊" not in html
    assert "未能回答" in html and "低置信度" in html and "转人工" in html


def test_teach_alias_makes_the_ivr_answer_and_leaves_the_queue(admin_client, make_call, kb_loaded, session):
    call = make_call(turns=[{"text": UNKNOWN, "abstained": True}])
    turn_id = call.turns[0].id
    assert "未能回答" in _ask(admin_client, UNKNOWN)
    revision = current_revision(session)

    page = admin_client.get(f"/quality/{turn_id}/teach").get_data(as_text=True)
    assert UNKNOWN in page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = admin_client.post(f"/quality/{turn_id}/teach", data={
        "csrf_token": token, "question": "汪星人牌照", "item_code": "GA-001", "kind": "alias", "answer": ""})
    assert resp.status_code == 302
    session.expire_all()
    assert current_revision(session) == revision + 1
    answer = _ask(admin_client, UNKNOWN)
    assert "GA-001" in answer and "未能回答" not in answer
    assert UNKNOWN not in admin_client.get("/quality/").get_data(as_text=True)
    review = session.query(QualityReview).filter_by(turn_id=turn_id).one()
    assert (review.status, review.item_code, review.kind, review.username) == ("taught", "GA-001", "alias", "boss")
    assert session.query(AuditLog).filter_by(action="quality_teach").count() == 1
    assert session.query(AuditLog).filter_by(action="kb_alias_add", target="kb_item:GA-001").count() == 1


def test_teach_faq_needs_an_answer_and_unknown_items_are_refused(admin_client, make_call, kb_loaded, session):
    turn_id = make_call(turns=[{"text": "狗证能代办吗", "abstained": True}]).turns[0].id
    token = csrf_token(admin_client, f"/quality/{turn_id}/teach")
    base = {"csrf_token": token, "question": "狗证能代办吗", "kind": "faq"}
    html = admin_client.post(f"/quality/{turn_id}/teach", data={**base, "item_code": "GA-001", "answer": ""})
    assert "必须填写答案" in html.get_data(as_text=True)
    html = admin_client.post(f"/quality/{turn_id}/teach", data={**base, "item_code": "ZZ-999", "answer": "可以"})
    assert "ZZ-999" in html.get_data(as_text=True)
    assert session.query(QualityReview).count() == 0
    resp = admin_client.post(f"/quality/{turn_id}/teach", data={**base, "item_code": "GA-001", "answer": "可以代办。"})
    assert resp.status_code == 302
    assert "可以代办" in admin_client.get("/kb/items/GA-001").get_data(as_text=True)


def test_dismiss_removes_from_queue_and_needs_token(admin_client, make_call, session):
    turn_id = make_call(turns=[{"text": "打错了", "abstained": True}]).turns[0].id
    assert admin_client.post(f"/quality/{turn_id}/dismiss").status_code == 400
    token = csrf_token(admin_client, "/quality/")
    assert admin_client.post(f"/quality/{turn_id}/dismiss", data={"csrf_token": token}).status_code == 302
    assert "打错了" not in admin_client.get("/quality/").get_data(as_text=True)
    assert session.query(QualityReview).filter_by(turn_id=turn_id, status="dismissed").count() == 1
