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

from sqlalchemy import Float, Integer, case, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admin.services.localtime import day_bounds, to_local
from hotline.models import Call, CallTurn, utcnow
from hotline.models.admin import DashboardDay
from hotline.outcomes import Outcome

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


def _local(session: Session, column, pattern: str):
    """A local (CST) date or hour of a UTC column as text: pattern is 'day' or 'hour'."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD" if pattern == "day" else "HH24")
    return func.strftime("%Y-%m-%d" if pattern == "day" else "%H", column, "+8 hours")


def _floor_int(session: Session, expr):
    # PostgreSQL's integer cast rounds; SQLite's truncates (= floor for the non-negative values here).
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(expr), Integer)
    return cast(expr, Integer)


def _duration_s(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Call.ended_at - Call.started_at)
    return (func.julianday(Call.ended_at) - func.julianday(Call.started_at)) * 86400.0


def _empty_day() -> dict:
    return {"total": 0, "outcomes": {}, "dur_sum": 0.0, "dur_n": 0, "hours": {}, "items": {}, "aspects": {},
            "confidence": {}, "unanswered": {}, "latency": {s: {} for s in LATENCY_STAGES}}


def range_stats(session: Session, first: date, last: date) -> dict[date, dict]:
    """Everything the dashboard needs about each local day in [first, last], as plain JSON-able counters.

    A handful of GROUP BY queries over the whole range (calls by started_at, caller turns by at, both indexed),
    grouped by local day in SQL, so a cold month costs what a cold day costs plus the rows scanned.
    """
    start, end = day_bounds(first, last)
    out = {first + timedelta(days=n): _empty_day() for n in range((last - first).days + 1)}

    def stats(day_text: str) -> dict:
        return out[date.fromisoformat(day_text)]

    in_calls = (Call.started_at >= start, Call.started_at < end)
    day, hour, dur = _local(session, Call.started_at, "day"), _local(session, Call.started_at, "hour"), _duration_s(session)
    rows = session.execute(
        select(day, hour, Call.outcome, func.count(), func.sum(case((Call.ended_at.is_not(None), dur))),
               func.count(Call.ended_at)).where(*in_calls).group_by(day, hour, Call.outcome)
    )
    for d, h, outcome, n, dur_sum, dur_n in rows:
        st = stats(d)
        st["total"] += n
        st["outcomes"][outcome] = st["outcomes"].get(outcome, 0) + n
        st["hours"][h] = st["hours"].get(h, 0) + n
        st["dur_sum"] += float(dur_sum or 0)
        st["dur_n"] += int(dur_n or 0)
    rows = session.execute(select(day, Call.item_code, func.count())
                           .where(*in_calls, Call.item_code.is_not(None)).group_by(day, Call.item_code))
    for d, item, n in rows:
        stats(d)["items"][item] = n

    tday = _local(session, CallTurn.at, "day")
    in_turns = (CallTurn.at >= start, CallTurn.at < end, CallTurn.speaker == "caller")
    # Aspect and confidence bucket in one pass (a few hundred groups per day): one scan of the turns fewer.
    bucket = case((CallTurn.asr_confidence >= 1, CONFIDENCE_BUCKETS - 1),
                  else_=_floor_int(session, CallTurn.asr_confidence * CONFIDENCE_BUCKETS))
    rows = session.execute(select(tday, CallTurn.aspect, bucket, func.count())
                           .where(*in_turns).group_by(tday, CallTurn.aspect, bucket))
    for d, aspect, b, n in rows:
        st = stats(d)
        if aspect:
            st["aspects"][aspect] = st["aspects"].get(aspect, 0) + n
        if b is not None:
            st["confidence"][str(b)] = st["confidence"].get(str(b), 0) + n
    rows = session.execute(select(tday, CallTurn.text, func.count())
                           .where(*in_turns, CallTurn.abstained.is_(True), CallTurn.text.is_not(None),
                                  CallTurn.text != "").group_by(tday, CallTurn.text))
    unanswered: dict[date, Counter[str]] = {}
    for d, text, n in rows:
        unanswered.setdefault(date.fromisoformat(d), Counter())[text] = n
    for d, counter in unanswered.items():
        out[d]["unanswered"] = dict(counter.most_common(UNANSWERED_KEPT))
    for stage in LATENCY_STAGES:
        value = cast(CallTurn.latency_ms[stage].as_float(), Float)
        b = _floor_int(session, value / LATENCY_BIN_MS)
        rows = session.execute(select(tday, b, func.count()).where(*in_turns, value.is_not(None)).group_by(tday, b))
        for d, bin_, n in rows:
            stats(d)["latency"][stage][str(bin_)] = n
    return out


def day_stats(session: Session, day: date) -> dict:
    """One local day's counters (see ``range_stats``)."""
    return range_stats(session, day, day)[day]


def _settled(day: date, now: datetime) -> bool:
    return day_bounds(day, day)[1] + SETTLED < now


def _store(session: Session, computed: dict[date, dict]) -> None:
    if not computed:
        return
    try:
        session.add_all(DashboardDay(day=day, data=data) for day, data in computed.items())
        session.commit()
    except IntegrityError:  # another request (or the rollup) stored some of these days first: theirs are identical
        session.rollback()


def _days(session: Session, first: date, last: date, now: datetime) -> dict[date, dict]:
    """Per-day stats: stored ones read in one query, missing settled days computed in one range pass and stored."""
    out = {r.day: r.data for r in session.scalars(
        select(DashboardDay).where(DashboardDay.day >= first, DashboardDay.day <= last))}
    missing = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    missing = [d for d in missing if d not in out]
    settled = [d for d in missing if _settled(d, now)]
    if settled:
        computed = range_stats(session, settled[0], settled[-1])
        new = {d: computed[d] for d in settled}
        out.update(computed)
        _store(session, new)
    for day in missing:
        if day not in settled:
            out[day] = _live_stats(session, day)
    return {d: out[d] for d in sorted(out) if first <= d <= last}


def rollup(session: Session, *, now: datetime | None = None, chunk_days: int = 31) -> int:
    """Store every settled day since the first call that is not stored yet; returns how many days were stored.

    Run by ``hotline dashboard-rollup`` and hourly in the background by ``hotline serve``, so even the first dashboard
    view after a restart or an import reads stored days.
    """
    now = now or utcnow()
    oldest = session.scalar(select(func.min(Call.started_at)))
    if oldest is None:
        return 0
    first = to_local(oldest).date()
    stored = set(session.scalars(select(DashboardDay.day).where(DashboardDay.day >= first)))
    day, todo = first, []
    while _settled(day, now):
        if day not in stored:
            todo.append(day)
        day += timedelta(days=1)
    done = 0
    for i in range(0, len(todo), chunk_days):
        part = todo[i:i + chunk_days]
        computed = range_stats(session, part[0], part[-1])
        _store(session, {d: computed[d] for d in part})
        done += len(part)
    return done


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
