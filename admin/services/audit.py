"""The audit trail: every change made in the panel is one AuditLog row with before/after snapshots."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import AuditLog


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(
    session: Session, username: str, action: str, target: str, before: dict | None = None, after: dict | None = None
) -> AuditLog:
    """Add an audit row to the caller's transaction (so the change and its record commit together)."""
    row = AuditLog(username=username, action=action, target=target[:128],
                   before=_jsonable(before), after=_jsonable(after))
    session.add(row)
    return row


def history(session: Session, target: str, limit: int = 100) -> list[AuditLog]:
    return list(session.scalars(
        select(AuditLog).where(AuditLog.target == target).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
    ))


def recent(session: Session, limit: int = 200) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)))
