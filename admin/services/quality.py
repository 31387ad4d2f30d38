"""The quality loop: questions the IVR handled badly, and the "teach" action that fixes the KB for next time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from admin.services import audit
from admin.services.calls import LOW_CONFIDENCE
from admin.services.localtime import fmt
from hotline.errors import HotlineError
from hotline.models import Call, CallTurn
from hotline.models.admin import QualityReview
from hotline.outcomes import Outcome


class QualityError(HotlineError):
    """A teach or dismiss that cannot be done (unknown question, KB refused the change...)."""


@dataclass(frozen=True)
class QueueEntry:
    turn_id: int
    call_id: int
    at: str
    question: str
    item_code: str
    qa_confidence: float | None
    reason: str


def _reason(abstained: bool | None, confidence: float | None, outcome: str) -> str:
    if abstained:
        return "未能回答"
    if confidence is not None and confidence < LOW_CONFIDENCE:
        return "低置信度"
    if outcome == Outcome.ESCALATED.value:
        return "转人工"
    return ""


def review_queue(session: Session, limit: int = 100) -> list[QueueEntry]:
    """Unreviewed caller questions that were abstained on, answered with low confidence or escalated."""
    reviewed = exists().where(QualityReview.turn_id == CallTurn.id)
    stmt = (
        select(CallTurn.id, CallTurn.call_id, CallTurn.at, CallTurn.text, CallTurn.item_code,
               CallTurn.qa_confidence, CallTurn.abstained, Call.outcome)
        .join(Call, Call.id == CallTurn.call_id)
        .where(
            CallTurn.speaker == "caller", CallTurn.text.is_not(None), CallTurn.text != "", ~reviewed,
            or_(CallTurn.abstained.is_(True), CallTurn.qa_confidence < LOW_CONFIDENCE,
                Call.outcome == Outcome.ESCALATED.value),
        )
        .order_by(CallTurn.at.desc(), CallTurn.id.desc())
        .limit(limit)
    )
    return [
        QueueEntry(r.id, r.call_id, fmt(r.at), r.text, r.item_code or "", r.qa_confidence,
                   _reason(r.abstained, r.qa_confidence, r.outcome))
        for r in session.execute(stmt)
    ]


def get_entry(session: Session, turn_id: int) -> CallTurn:
    turn = session.get(CallTurn, turn_id)
    if turn is None or turn.speaker != "caller":
        raise QualityError("该问题不存在")
    if session.scalar(select(QualityReview.id).where(QualityReview.turn_id == turn_id)) is not None:
        raise QualityError("该问题已处理")
    return turn


def teach(
    session: Session, turn_id: int, *, item_code: str, kind: str, question: str, answer: str, username: str
) -> None:
    """Link the question to ``item_code`` as an alias or an FAQ entry; the KB store bumps the revision, so a
    running IVR picks the change up on its next call."""
    from kb.store import KBError, add_alias, add_faq

    get_entry(session, turn_id)
    try:
        if kind == "alias":
            add_alias(session, item_code, question, username)
        elif kind == "faq":
            if not answer.strip():
                raise QualityError("作为常见问题时必须填写答案")
            add_faq(session, item_code, question, answer, username)
        else:
            raise QualityError(f"未知的学习方式：{kind}")
    except KBError as exc:
        raise QualityError(str(exc)) from None
    session.add(QualityReview(turn_id=turn_id, question=question, status="taught", item_code=item_code,
                              kind=kind, username=username))
    audit.record(session, username, "quality_teach", f"turn:{turn_id}", None,
                 {"item_code": item_code, "kind": kind, "question": question, "answer": answer or None})


def dismiss(session: Session, turn_id: int, username: str) -> None:
    turn = get_entry(session, turn_id)
    session.add(QualityReview(turn_id=turn_id, question=turn.text or "", status="dismissed", username=username))
    audit.record(session, username, "quality_dismiss", f"turn:{turn_id}", None, {"question": turn.text})
