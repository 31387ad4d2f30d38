"""Dashboard figures over a date range.

Each local (China Standard Time) day is aggregated in SQL into counters and histograms; a finished day is
stored in ``dashboard_days`` once, so a month-long dashboard merges 30 small rows plus today's live figures
instead of scanning every call again. Latency percentiles come from 10 ms histograms, so they are exact to
10 ms and merge across days.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admin.services.localtime import day_bounds
from hotline.models import Call, CallTurn, Outcome, utcnow
from hotline.models.admin import DashboardDay

LATENCY_STAGES = ("asr", "qa", "tts_first_frame", "total")
LATENCY_BIN_MS = 10
CONFIDENCE_BUCKETS = 10
UNANSWERED_KEPT = 200  # per day; the range's top 10 are picked from these
SETTLED = timedelta(hours=1)  # a call never lasts longer (max_call_s is minutes), so an older day is final
LIVE_TTL_S = 30.0  # today's (and a just-ended day's) figures are recomputed at most this often

_live_lock = threading.Lock()
_live: dict[tuple[str, date], tuple[float, dict]] = {}


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


def _local_hour(session: Session, column):
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "HH24")
    return func.strftime("%H", column, "+8 hours")


def _duration_s(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Call.ended_at - Call.started_at)
    return (func.julianday(Call.ended_at) - func.julianday(Call.started_at)) * 86400.0


def day_stats(session: Session, day: date) -> dict:
    """Everything the dashboard needs about one local day, as plain JSON-able counters."""
    start, end = day_bounds(day, day)
    calls = (Call.started_at >= start, Call.started_at < end)
    turns = (CallTurn.at >= start, CallTurn.at < end, CallTurn.speaker == "caller")

    dur = _duration_s(session)
    total, dur_sum, dur_n = session.execute(select(
        func.count(), func.sum(case((Call.ended_at.is_not(None), dur))), func.count(Call.ended_at),
    ).where(*calls)).one()
    outcomes = dict(session.execute(select(Call.outcome, func.count()).where(*calls).group_by(Call.outcome)).all())
    hour = _local_hour(session, Call.started_at)
    hours = dict(session.execute(select(hour, func.count()).where(*calls).group_by(hour)).all())
    items = dict(session.execute(
        select(Call.item_code, func.count()).where(*calls, Call.item_code.is_not(None)).group_by(Call.item_code)
    ).all())

    aspects: Counter[str] = Counter()
    confidence: Counter[str] = Counter()
    unanswered: Counter[str] = Counter()
    latency: dict[str, Counter[str]] = {s: Counter() for s in LATENCY_STAGES}
    stage_cols = [cast(CallTurn.latency_ms[s].as_float(), Float) for s in LATENCY_STAGES]
    rows = session.execute(
        select(CallTurn.aspect, CallTurn.asr_confidence, CallTurn.abstained, CallTurn.text, *stage_cols).where(*turns)
    )
    # One pass over the day's caller turns (a few thousand rows) instead of one query per figure.
    for aspect, conf, abstained, text, *stages in rows:
        if aspect:
            aspects[aspect] += 1
        if conf is not None:
            confidence[str(min(int(conf * CONFIDENCE_BUCKETS), CONFIDENCE_BUCKETS - 1))] += 1
        if abstained and text:
            unanswered[text] += 1
        for stage, value in zip(LATENCY_STAGES, stages, strict=True):
            if value is not None:
                latency[stage][str(int(value // LATENCY_BIN_MS))] += 1
    return {
        "total": int(total or 0), "outcomes": outcomes, "dur_sum": float(dur_sum or 0), "dur_n": int(dur_n or 0),
        "hours": hours, "items": items, "aspects": dict(aspects), "confidence": dict(confidence),
        "unanswered": dict(unanswered.most_common(UNANSWERED_KEPT)),
        "latency": {s: dict(c) for s, c in latency.items()},
    }


def _days(session: Session, first: date, last: date, now: datetime) -> dict[date, dict]:
    """Per-day stats: stored ones read in one query, missing settled days computed and stored."""
    stored = {r.day: r.data for r in session.scalars(
        select(DashboardDay).where(DashboardDay.day >= first, DashboardDay.day <= last))}
    out: dict[date, dict] = {}
    new_rows = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        if day in stored:
            out[day] = stored[day]
            continue
        if day_bounds(day, day)[1] + SETTLED < now:
            out[day] = day_stats(session, day)
            new_rows.append(DashboardDay(day=day, data=out[day]))
        else:
            out[day] = _live_stats(session, day)
    if new_rows:
        try:
            session.add_all(new_rows)
            session.commit()
        except IntegrityError:  # another request stored the same day first: theirs is identical
            session.rollback()
    return out


def _live_stats(session: Session, day: date) -> dict:
    """A day still receiving calls: computed at most every LIVE_TTL_S seconds per database."""
    key = (str(session.get_bind().url), day)
    with _live_lock:
        hit = _live.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    stats = day_stats(session, day)
    with _live_lock:
        _live[key] = (time.monotonic() + LIVE_TTL_S, stats)
        for stale in [k for k, (expires, _) in _live.items() if expires < time.monotonic()]:
            del _live[stale]
    return stats


def forget_days(session: Session, first: date, last: date) -> None:
    """Drop stored days (after importing old calls, for instance); they are recomputed on the next view."""
    with _live_lock:
        _live.clear()
    session.query(DashboardDay).filter(DashboardDay.day >= first, DashboardDay.day <= last).delete()


def percentile_from_bins(bins: Counter[int], q: float) -> float:
    """Nearest-rank percentile over a histogram of LATENCY_BIN_MS bins (returns the bin's lower edge)."""
    n = sum(bins.values())
    if not n:
        return 0.0
    rank, seen = max(1, -(-n * q // 100)), 0
    for b in sorted(bins):
        seen += bins[b]
        if seen >= rank:
            return float(b * LATENCY_BIN_MS)
    return float(max(bins) * LATENCY_BIN_MS)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def build_dashboard(session: Session, first: date, last: date, *, top: int = 10, now: datetime | None = None) -> Dashboard:
    days = _days(session, first, last, now or utcnow())
    outcomes: Counter[str] = Counter()
    hours: Counter[str] = Counter()
    items: Counter[str] = Counter()
    aspects: Counter[str] = Counter()
    unanswered: Counter[str] = Counter()
    confidence: Counter[str] = Counter()
    latency: dict[str, Counter[int]] = {s: Counter() for s in LATENCY_STAGES}
    total, dur_sum, dur_n = 0, 0.0, 0
    for d in days.values():
        total += d["total"]
        dur_sum += d["dur_sum"]
        dur_n += d["dur_n"]
        for target, key in ((outcomes, "outcomes"), (hours, "hours"), (items, "items"), (aspects, "aspects"),
                            (unanswered, "unanswered"), (confidence, "confidence")):
            target.update(d[key])
        for stage in LATENCY_STAGES:
            latency[stage].update({int(k): v for k, v in d["latency"].get(stage, {}).items()})

    def share(outcome: Outcome) -> float | None:
        return outcomes[outcome.value] / total if total else None

    def ranked(counter: Counter[str]) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]

    return Dashboard(
        first=first, last=last, total=total,
        answered_by_ivr=share(Outcome.ANSWERED_BY_IVR), escalated=share(Outcome.ESCALATED),
        abandoned=share(Outcome.ABANDONED), avg_handling_s=dur_sum / dur_n if dur_n else None,
        per_day=[(day.isoformat()[5:], d["total"]) for day, d in sorted(days.items())],
        per_hour=[(f"{h:02d}", hours[f"{h:02d}"]) for h in range(24)],
        top_items=ranked(items), top_aspects=ranked(aspects), top_unanswered=ranked(unanswered),
        confidence=[(f"{b / CONFIDENCE_BUCKETS:.1f}", confidence[str(b)]) for b in range(CONFIDENCE_BUCKETS)],
        latency={
            stage: {"p50": percentile_from_bins(bins, 50), "p90": percentile_from_bins(bins, 90),
                    "p95": percentile_from_bins(bins, 95), "n": sum(bins.values())}
            for stage, bins in latency.items() if bins
        },
    )
