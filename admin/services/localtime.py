"""The centre works in China Standard Time; the database stores UTC. Conversions in one place."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")  # Asia/Shanghai has had no DST since 1991


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CST)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """Local dates [first, last] inclusive -> UTC half-open interval [start, end)."""
    start = datetime.combine(first, time.min, CST)
    end = datetime.combine(last + timedelta(days=1), time.min, CST)
    return start.astimezone(UTC), end.astimezone(UTC)


def today() -> date:
    return datetime.now(CST).date()


def fmt(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    local = to_local(value)
    return local.strftime(pattern) if local else ""
