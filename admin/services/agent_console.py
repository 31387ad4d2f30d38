"""What the agent console shows: callers waiting in the queue and open callback tasks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from admin.services import audit
from admin.services.localtime import fmt
from admin.services.masking import redact, shown_number
from hotline.errors import HotlineError
from hotline.models import Call, CallbackTask, CallEvent, CallTurn, utcnow

WAITING_STATES = ("waiting", "ringing")
# Escalation reasons the IVR records (ivr/flow.py _escalate, ivr/overflow.py); unknown ones are shown as recorded.
ESCALATION_LABELS = {
    "caller_request": "来电人要求转人工",
    "dtmf_0": "来电人按 0 转人工",
    "asr_error": "语音识别故障",
    "asr_timeout": "语音识别超时",
    "qa_error": "知识库查询故障",
    "tts_error": "语音合成故障",
    "booking_error": "预约系统故障",
    "lines_busy": "线路繁忙，直接转人工",
}
CALLBACK_STATUSES = ("done", "failed")


class CallbackError(HotlineError):
    """A callback task that cannot be marked (unknown, or already handled)."""


def escalation_label(reason: str | None) -> str:
    return ESCALATION_LABELS.get(reason or "", reason or "")


@dataclass(frozen=True)
class WaitingCaller:
    call_id: int
    number: str
    state: str  # waiting / ringing
    waiting_s: int
    question: str
    item_code: str
    item_name: str
    department: str
    reason: str  # why the IVR handed over, in the caller-facing words agents read
    summary: str  # HOTLINE_CONTEXT the IVR built: item + question
    transcript: list[str]
    mine: bool  # ringing this agent's own phone

    def to_json_dict(self) -> dict:
        return asdict(self)


def _rung_interfaces(session: Session, call_ids: list[int]) -> dict[int, set[str]]:
    """Which agent phones each ringing call is ringing, from the AMI AgentCalled events the IVR recorded."""
    out: dict[int, set[str]] = {}
    if not call_ids:
        return out
    rows = session.execute(
        select(CallEvent.call_id, CallEvent.data).where(CallEvent.call_id.in_(call_ids), CallEvent.name == "AgentCalled")
    )
    for call_id, data in rows:
        data = data or {}
        names = {str(data.get(k) or "") for k in ("Interface", "MemberName", "DestChannel", "AgentName")}
        out.setdefault(call_id, set()).update(n for n in names if n)
    return out


def _matches(interfaces: set[str], agent_ids: set[str]) -> bool:
    # DestChannel is the interface plus a channel suffix: PJSIP/agent1-00000007.
    return any(i in agent_ids or i.rsplit("-", 1)[0] in agent_ids for i in interfaces)


def waiting_callers(
    session: Session, *, username: str, extension: str | None, full_numbers: bool, now: datetime | None = None
) -> list[WaitingCaller]:
    """Callers waiting or ringing, the one ringing this agent's phone first, then longest wait first."""
    now = now or utcnow()
    calls = list(session.scalars(
        # Literal values, so the condition matches the partial index ix_calls_waiting (migration 0005_admin).
        select(Call).where(Call.queue_state.in_(bindparam("states", WAITING_STATES, expanding=True, literal_execute=True)),
                           Call.ended_at.is_(None)).limit(200)
    ))
    if not calls:
        return []
    texts: dict[int, list[str]] = {c.id: [] for c in calls}
    turns = session.execute(
        select(CallTurn.call_id, CallTurn.text)
        .where(CallTurn.call_id.in_(texts), CallTurn.speaker == "caller", CallTurn.text.is_not(None))
        .order_by(CallTurn.call_id, CallTurn.seq)
    )
    for call_id, text in turns:
        texts[call_id].append(text)
    agent_ids = {username} | ({extension} if extension else set())
    rung = _rung_interfaces(session, [c.id for c in calls if c.queue_state == "ringing"])
    mine = {c.id for c in calls
            if c.queue_state == "ringing" and (_matches(rung.get(c.id, set()), agent_ids) or c.agent in agent_ids)}

    def since(call: Call) -> datetime:
        joined = call.queue_joined_at or call.started_at
        return joined if joined.tzinfo else joined.replace(tzinfo=UTC)

    calls.sort(key=lambda c: (c.id not in mine, since(c)))
    return [
        WaitingCaller(
            call_id=c.id, number=shown_number(c.caller_number, full_numbers), state=c.queue_state or "",
            waiting_s=max(0, int((now - since(c)).total_seconds())),
            question=redact(c.first_question, c.caller_number, full_numbers),
            item_code=c.item_code or "", item_name=c.item_name or "", department=c.department or "",
            reason=escalation_label(c.escalation_reason), summary=redact(c.context_summary, c.caller_number, full_numbers),
            transcript=[redact(t, c.caller_number, full_numbers) for t in texts[c.id]],
            mine=c.id in mine,
        )
        for c in calls
    ]


@dataclass(frozen=True)
class CallbackRow:
    id: int
    number: str
    question: str
    item_code: str
    created: str
    status: str
    handled_by: str
    note: str
    audio_path: str | None = None  # the caller's voicemail, relative to recording_dir


def callbacks(session: Session, *, include_handled: bool = False, limit: int = 200) -> list[CallbackRow]:
    # Callers asked to be called back, so the agent needs the full number to dial it.
    stmt = select(CallbackTask)
    if not include_handled:
        stmt = stmt.where(CallbackTask.status == "open")
    stmt = stmt.order_by(CallbackTask.created_at, CallbackTask.id).limit(limit)
    return [
        CallbackRow(t.id, t.number, t.question or "", t.item_code or "", fmt(t.created_at), t.status,
                    t.handled_by or "", t.note or "", t.audio_path)
        for t in session.scalars(stmt)
    ]


def mark_callback(session: Session, task_id: int, status: str, note: str, username: str) -> None:
    if status not in CALLBACK_STATUSES:
        raise CallbackError(f"无效的回电结果：{status}")
    task = session.get(CallbackTask, task_id)
    if task is None:
        raise CallbackError("回电任务不存在")
    if task.status != "open":
        raise CallbackError("该回电任务已处理")
    before = {"status": task.status, "note": task.note}
    task.status, task.note, task.handled_by, task.handled_at = status, note or None, username, utcnow()
    audit.record(session, username, "callback_mark", f"callback:{task.id}", before, {"status": status, "note": note})


@dataclass(frozen=True)
class ScreenPop:
    """What the agent sees while the browser rings: who (masked), what they asked, what the IVR understood."""

    call_uuid: str
    number: str
    question: str
    item_code: str
    item_name: str
    department: str
    reason: str
    summary: str
    waiting_s: int
    transcript: list[dict[str, str]]  # {"speaker": "caller"/"ivr", "text": ...} in order

    def to_json_dict(self) -> dict:
        return asdict(self)


def caller_label(number: str | None, full_numbers: bool) -> str:
    """The caller as an agent reads it: web caller page calls carry a token, not a phone number."""
    if (number or "").startswith("web"):
        return "网页来电（无电话号码）"
    return shown_number(number, full_numbers)


def screen_pop(session: Session, call_uuid: str, *, full_numbers: bool, now: datetime | None = None) -> ScreenPop | None:
    call = session.scalars(select(Call).where(Call.call_uuid == call_uuid)).one_or_none()
    if call is None:
        return None
    now = now or utcnow()
    joined = call.queue_joined_at or call.started_at
    joined = joined if joined.tzinfo else joined.replace(tzinfo=UTC)
    turns = session.execute(
        select(CallTurn.speaker, CallTurn.text).where(CallTurn.call_id == call.id, CallTurn.text.is_not(None))
        .order_by(CallTurn.seq)
    )
    return ScreenPop(
        call_uuid=call.call_uuid, number=caller_label(call.caller_number, full_numbers),
        question=call.first_question or "", item_code=call.item_code or "", item_name=call.item_name or "",
        department=call.department or "", reason=escalation_label(call.escalation_reason),
        summary=call.context_summary or "", waiting_s=max(0, int((now - joined).total_seconds())),
        transcript=[{"speaker": s, "text": t} for s, t in turns],
    )


def callback_from_call(session: Session, call_uuid: str, note: str, username: str) -> int:
    """A callback task for the caller of an open call (the agent will call back); returns its id."""
    call = session.scalars(select(Call).where(Call.call_uuid == call_uuid)).one_or_none()
    if call is None or not call.caller_number:
        raise CallbackError("找不到该通话或来电号码，无法登记回电")
    if call.caller_number.startswith("web"):
        raise CallbackError("网页来电没有电话号码，无法登记回电，请在通话中直接解答")
    task = CallbackTask(call_id=call.id, number=call.caller_number, question=call.first_question,
                        item_code=call.item_code, note=note or None)
    session.add(task)
    session.flush()
    audit.record(session, username, "callback_create", f"callback:{task.id}", None,
                 {"call": call_uuid, "note": note})
    return task.id
