"""Dashboard figures over a date range, aggregated in SQL so 100,000 calls stay fast.

Bucketing by local (China Standard Time) day and hour needs one dialect-specific expression each; everything
else is portable SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.orm import Session

from admin.services.localtime import day_bounds
from hotline.models import Call, CallTurn, Outcome


@dataclass(frozen=True)
class Dashboard:
    first: date
    last: date
    total: int
    answered_by_ivr: float | None
    escalated: float | None
    abandoned: float | None
    avg_handling_s: float | None
    per_day: list[tuple[str, int]]
    per_hour: list[tuple[str, int]]
    top_items: list[tuple[str, int]]
    top_aspects: list[tuple[str, int]]
    top_unanswered: list[tuple[str, int]]
    confidence: list[tuple[str, int]]
    latency: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> {p50, p90, p95, n}


def _local(session: Session, column, fmt: str):
    """Local-time text of a UTC timestamp column; fmt is 'day' or 'hour'."""
    if session.get_bind().dialect.name == "postgresql":
        pattern = {"day": "YYYY-MM-DD", "hour": "HH24"}[fmt]
        return func.to_char(func.timezone("Asia/Shanghai", column), pattern)
    pattern = {"day": "%Y-%m-%d", "hour": "%H"}[fmt]
    return func.strftime(pattern, column, "+8 hours")


def _duration_s(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Call.ended_at - Call.started_at)
    return (func.julianday(Call.ended_at) - func.julianday(Call.started_at)) * 86400.0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


LATENCY_STAGES = ("asr", "qa", "tts_first_frame", "total")
CONFIDENCE_BUCKETS = 10


def build_dashboard(session: Session, first: date, last: date, *, top: int = 10) -> Dashboard:
    start, end = day_bounds(first, last)
    in_range = (Call.started_at >= start, Call.started_at < end)
    turns_in_range = (CallTurn.at >= start, CallTurn.at < end, CallTurn.speaker == "caller")

    o = Call.outcome
    totals = session.execute(select(
        func.count(),
        func.sum(case((o == Outcome.ANSWERED_BY_IVR.value, 1), else_=0)),
        func.sum(case((o == Outcome.ESCALATED.value, 1), else_=0)),
        func.sum(case((o == Outcome.ABANDONED.value, 1), else_=0)),
        func.avg(case((Call.ended_at.is_not(None), _duration_s(session)))),
    ).where(*in_range)).one()
    total = int(totals[0] or 0)

    def share(n) -> float | None:
        return (int(n or 0) / total) if total else None

    day_col = _local(session, Call.started_at, "day")
    by_day = dict(session.execute(select(day_col, func.count()).where(*in_range).group_by(day_col)).all())
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    hour_col = _local(session, Call.started_at, "hour")
    by_hour = dict(session.execute(select(hour_col, func.count()).where(*in_range).group_by(hour_col)).all())

    def top_of(column, *where) -> list[tuple[str, int]]:
        n = func.count().label("n")
        rows = session.execute(
            select(column, n).where(*where, column.is_not(None)).group_by(column).order_by(n.desc(), column).limit(top)
        )
        return [(str(k), int(v)) for k, v in rows]

    bucket = func.floor(CallTurn.asr_confidence * CONFIDENCE_BUCKETS)
    conf_rows = dict(session.execute(
        select(bucket, func.count()).where(*turns_in_range, CallTurn.asr_confidence.is_not(None)).group_by(bucket)
    ).all())
    confidence = []
    for b in range(CONFIDENCE_BUCKETS):
        n = int(conf_rows.get(b, 0)) + (int(conf_rows.get(CONFIDENCE_BUCKETS, 0)) if b == CONFIDENCE_BUCKETS - 1 else 0)
        confidence.append((f"{b / CONFIDENCE_BUCKETS:.1f}", n))

    latency: dict[str, dict[str, float]] = {}
    for stage in LATENCY_STAGES:
        value = cast(CallTurn.latency_ms[stage].as_float(), Float)
        values = list(session.scalars(select(value).where(*turns_in_range, value.is_not(None)).order_by(value)))
        if values:
            latency[stage] = {"p50": percentile(values, 50), "p90": percentile(values, 90),
                              "p95": percentile(values, 95), "n": len(values)}

    return Dashboard(
        first=first, last=last, total=total,
        answered_by_ivr=share(totals[1]), escalated=share(totals[2]), abandoned=share(totals[3]),
        avg_handling_s=float(totals[4]) if totals[4] is not None else None,
        per_day=[(d[5:], int(by_day.get(d, 0))) for d in days],
        per_hour=[(f"{h:02d}", int(by_hour.get(f"{h:02d}", 0))) for h in range(24)],
        top_items=top_of(Call.item_code, *in_range),
        top_aspects=top_of(CallTurn.aspect, *turns_in_range),
        top_unanswered=top_of(CallTurn.text, *turns_in_range, CallTurn.abstained.is_(True)),
        confidence=confidence,
        latency=latency,
    )
