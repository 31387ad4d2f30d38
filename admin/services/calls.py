"""Call list (filters, keyset paging), call detail and CSV export.

Paging is keyset on (started_at, id) descending, so page 2,000 costs what page 1 costs; every filter is a
SQLAlchemy expression over typed values (never SQL text), backed by the indexes in migration 0005_admin.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Select, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from admin.services.localtime import day_bounds, fmt
from admin.services.masking import redact, shown_number
from hotline.errors import HotlineError
from hotline.models import Call, CallbackTask, CallEvent
from hotline.outcomes import Outcome

LOW_CONFIDENCE = 0.6  # below this a recognition or an answer counts as "low confidence"
PAGE_SIZE = 50
CSV_MAX_ROWS = 100_000

OUTCOME_LABELS = {
    Outcome.IN_PROGRESS.value: "通话中",
    Outcome.ANSWERED_BY_IVR.value: "语音自助解答",
    Outcome.ESCALATED.value: "转人工",
    Outcome.ABANDONED.value: "放弃",
    Outcome.CALLBACK_REQUESTED.value: "预约回电",
    Outcome.BOOKED.value: "已预约",
    Outcome.ERROR.value: "系统错误",
    Outcome.FAILED_OVER.value: "故障转接",
}


class CallQueryError(HotlineError):
    """A filter or page cursor that cannot be used (the view answers 400)."""


@dataclass(frozen=True)
class CallFilter:
    date_from: date | None = None
    date_to: date | None = None
    outcome: str | None = None
    item_code: str | None = None
    department: str | None = None
    escalated: bool = False
    abandoned: bool = False
    low_confidence: bool = False
    caller_number: str | None = None

    def apply(self, stmt: Select) -> Select:
        if self.date_from or self.date_to:
            start, end = day_bounds(self.date_from or date(2000, 1, 1), self.date_to or date(2999, 12, 31))
            stmt = stmt.where(Call.started_at >= start, Call.started_at < end)
        if self.outcome:
            stmt = stmt.where(Call.outcome == self.outcome)
        if self.item_code:
            stmt = stmt.where(Call.item_code == self.item_code)
        if self.department:
            stmt = stmt.where(Call.department == self.department)
        if self.escalated:
            stmt = stmt.where(Call.outcome == Outcome.ESCALATED.value)
        if self.abandoned:
            stmt = stmt.where(Call.outcome == Outcome.ABANDONED.value)
        if self.low_confidence:
            stmt = stmt.where(Call.min_confidence < LOW_CONFIDENCE)
        if self.caller_number:
            stmt = stmt.where(Call.caller_number == self.caller_number)
        return stmt


@dataclass(frozen=True)
class CallRow:
    id: int
    started: str
    number: str
    outcome: str
    outcome_label: str
    item_code: str
    department: str
    question: str
    min_confidence: float | None
    turn_count: int
    duration_s: int | None


@dataclass(frozen=True)
class CallPage:
    rows: list[CallRow]
    next_cursor: str | None


_LIST_COLUMNS = (
    Call.id, Call.started_at, Call.ended_at, Call.caller_number, Call.outcome, Call.item_code, Call.department,
    Call.first_question, Call.min_confidence, Call.turn_count,
)


def encode_cursor(started_at: datetime, call_id: int) -> str:
    return f"{started_at.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%f')}_{call_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        stamp, call_id = cursor.split("_", 1)
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC), int(call_id)
    except ValueError:
        raise CallQueryError("翻页参数无效") from None


def _row(r, full_numbers: bool) -> CallRow:
    duration = int((r.ended_at - r.started_at).total_seconds()) if r.ended_at and r.started_at else None
    return CallRow(
        id=r.id, started=fmt(r.started_at), number=shown_number(r.caller_number, full_numbers), outcome=r.outcome,
        outcome_label=OUTCOME_LABELS.get(r.outcome, r.outcome), item_code=r.item_code or "",
        department=r.department or "", question=redact(r.first_question, r.caller_number, full_numbers), min_confidence=r.min_confidence,
        turn_count=r.turn_count, duration_s=duration,
    )


def list_calls(
    session: Session, flt: CallFilter, *, cursor: str | None = None, full_numbers: bool = False,
    limit: int = PAGE_SIZE,
) -> CallPage:
    stmt = flt.apply(select(*_LIST_COLUMNS))
    if cursor:
        started, call_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Call.started_at, Call.id) < tuple_(started, call_id))
    stmt = stmt.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit + 1)
    fetched = session.execute(stmt).all()
    more = len(fetched) > limit
    fetched = fetched[:limit]
    next_cursor = encode_cursor(fetched[-1].started_at, fetched[-1].id) if more else None
    return CallPage([_row(r, full_numbers) for r in fetched], next_cursor)


def get_call(session: Session, call_id: int) -> Call | None:
    return session.scalar(
        select(Call).where(Call.id == call_id).options(selectinload(Call.turns))
    )


def call_events(session: Session, call: Call) -> list[CallEvent]:
    """The call's events, including AMI events recorded before call-start (linked by asterisk_uniqueid only)."""
    match = CallEvent.call_id == call.id
    if call.asterisk_uniqueid:
        match = or_(match, CallEvent.asterisk_uniqueid == call.asterisk_uniqueid)
    return list(session.scalars(select(CallEvent).where(match).order_by(CallEvent.at, CallEvent.id).limit(1000)))


def call_callbacks(session: Session, call: Call) -> list[CallbackTask]:
    """The callback tasks filed for the call (a voicemail among them), oldest first."""
    return list(session.scalars(select(CallbackTask).where(CallbackTask.call_id == call.id)
                                .order_by(CallbackTask.created_at, CallbackTask.id)))


def distinct_values(session: Session, column, limit: int = 200) -> list[str]:
    """Choices for the item / department filters (index-only scans)."""
    return [v for v in session.scalars(select(column).where(column.is_not(None)).distinct().order_by(column).limit(limit))]


CSV_HEADER = ["编号", "开始时间", "来电号码", "结果", "事项编码", "部门", "首个问题", "最低置信度", "轮次", "时长(秒)"]


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula in spreadsheet apps: keep hostile transcripts inert.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(session: Session, flt: CallFilter, *, full_numbers: bool) -> Iterator[str]:
    """CSV lines (UTF-8 with BOM so Excel opens Chinese correctly), newest first, at most CSV_MAX_ROWS."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def flush() -> str:
        out = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return out

    writer.writerow(CSV_HEADER)
    yield "\ufeff" + flush()
    stmt = flt.apply(select(*_LIST_COLUMNS)).order_by(Call.started_at.desc(), Call.id.desc()).limit(CSV_MAX_ROWS)
    for n, r in enumerate(session.execute(stmt.execution_options(yield_per=1000)), 1):
        row = _row(r, full_numbers)
        writer.writerow([
            row.id, row.started, row.number, row.outcome_label, row.item_code, _csv_safe(row.department),
            _csv_safe(row.question), "" if row.min_confidence is None else f"{row.min_confidence:.2f}",
            row.turn_count, "" if row.duration_s is None else row.duration_s,
        ])
        if n % 500 == 0:
            yield flush()
    yield flush()


def outcome_filter_ok(value: str) -> bool:
    return value in OUTCOME_LABELS

