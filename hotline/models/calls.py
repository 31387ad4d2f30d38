"""Calls, their turns and lifecycle events, and callback tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.models.base import Base, utcnow
from hotline.outcomes import Outcome

WAITING_SQL = "queue_state IN ('waiting', 'ringing')"


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_uuid: Mapped[str] = mapped_column(String(36), unique=True)  # AudioSocket UUID (dialplan ${UUID()})
    asterisk_uniqueid: Mapped[str | None] = mapped_column(String(64), index=True)
    caller_number: Mapped[str | None] = mapped_column(String(32), index=True)
    caller_name: Mapped[str | None] = mapped_column(String(80))
    dialled_number: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str | None] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(24), default=Outcome.IN_PROGRESS.value, index=True)
    escalation_reason: Mapped[str | None] = mapped_column(String(64))
    hangup_cause: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    # Denormalised summary for fast lists and the agent console.
    first_question: Mapped[str | None] = mapped_column(Text)
    item_code: Mapped[str | None] = mapped_column(String(32), index=True)
    department: Mapped[str | None] = mapped_column(String(80), index=True)
    min_confidence: Mapped[float | None]
    turn_count: Mapped[int] = mapped_column(default=0)
    queue_state: Mapped[str | None] = mapped_column(String(16))  # waiting / ringing / connected / left
    queue_joined_at: Mapped[datetime | None]
    agent: Mapped[str | None] = mapped_column(String(64))
    recording_path: Mapped[str | None] = mapped_column(String(255))
    # Added by 0004_calls_extra: what the agent console and the dialplan need after the IVR step.
    item_name: Mapped[str | None] = mapped_column(String(120))
    route: Mapped[str | None] = mapped_column(String(16))  # queue / callback / voicemail / hangup
    context_summary: Mapped[str | None] = mapped_column(Text)  # HOTLINE_CONTEXT: item + question

    turns: Mapped[list[CallTurn]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallTurn.seq"
    )
    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallEvent.id"
    )

    # Call-list keyset paging orders by (started_at, id); filtered lists walk the same order inside one value.
    # The partial index serves the agent console: the few waiting/ringing calls among 100,000s.
    __table_args__ = (
        Index("ix_calls_outcome_started", "outcome", "started_at"),
        Index("ix_calls_started_id", "started_at", "id"),
        Index("ix_calls_item_started", "item_code", "started_at"),
        Index("ix_calls_department_started", "department", "started_at"),
        Index("ix_calls_caller_started", "caller_number", "started_at"),
        Index("ix_calls_waiting", "queue_state", sqlite_where=text(WAITING_SQL), postgresql_where=text(WAITING_SQL)),
    )


class CallTurn(Base):
    __tablename__ = "call_turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # dashboard and quality queue by date
    speaker: Mapped[str] = mapped_column(String(8))  # caller / ivr
    kind: Mapped[str] = mapped_column(String(16), default="speech")  # speech / dtmf / prompt / system
    text: Mapped[str | None] = mapped_column(Text)
    dtmf: Mapped[str | None] = mapped_column(String(16))
    asr_confidence: Mapped[float | None]
    item_code: Mapped[str | None] = mapped_column(String(32), index=True)
    aspect: Mapped[str | None] = mapped_column(String(16))
    qa_confidence: Mapped[float | None]
    abstained: Mapped[bool | None]
    answer_text: Mapped[str | None] = mapped_column(Text)
    audio_path: Mapped[str | None] = mapped_column(String(255))
    # Per-stage latencies in milliseconds: endpoint, asr, qa, tts_first_frame, total.
    latency_ms: Mapped[dict | None] = mapped_column(JSON)

    call: Mapped[Call] = relationship(back_populates="turns")


class CallEvent(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    asterisk_uniqueid: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(8))  # ami / agi / ivr
    name: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict | None] = mapped_column(JSON)

    call: Mapped[Call | None] = relationship(back_populates="events")


class CallbackTask(Base):
    __tablename__ = "callback_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    question: Mapped[str | None] = mapped_column(Text)
    item_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open / done / failed
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)  # the agent's note
    # The caller's voicemail, relative to settings.recording_dir (0009_callback_audio).
    audio_path: Mapped[str | None] = mapped_column(String(255))
