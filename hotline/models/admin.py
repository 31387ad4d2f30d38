"""Admin-panel tables: the review state of quality-queue questions, and stored dashboard days."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.models.base import Base, utcnow


class QualityReview(Base):
    """An admin's decision on one caller question the IVR handled badly: taught (alias/FAQ) or dismissed.

    A turn with a review row leaves the quality queue; the row keeps who decided what, for the audit trail.
    """

    __tablename__ = "quality_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("call_turns.id", ondelete="CASCADE"), unique=True)
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # taught / dismissed
    item_code: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str | None] = mapped_column(String(8))  # alias / faq
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DashboardDay(Base):
    """Aggregates of one finished local day, computed once so dashboards over months stay fast.

    Only days that ended more than an hour ago are stored (a call cannot last longer), so a stored day
    never changes afterwards; today is always computed live.
    """

    __tablename__ = "dashboard_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
