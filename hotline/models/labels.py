"""Labelled caller utterances: real voices turned into a held-out speech evaluation set (speech.labels)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.models.base import Base, utcnow


class SpeechLabel(Base):
    """What a caller really said in one recorded utterance, and what it was about, set by a person.

    ``heard_*`` keep what the IVR recognised and answered at the time, so the figures of a week stay those of
    the recogniser and knowledge base that served it. A label made here points at its call turn; one imported
    from another installation has no turn (``turn_id`` NULL) and carries its audio under recording_dir.
    """

    __tablename__ = "speech_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("call_turns.id", ondelete="SET NULL"), unique=True)
    audio_path: Mapped[str] = mapped_column(String(255))  # relative to recording_dir
    audio_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # one label per recording, any source
    spoken_at: Mapped[datetime] = mapped_column(index=True)  # when the caller said it: the week it counts in
    heard_text: Mapped[str] = mapped_column(Text, default="")
    heard_item: Mapped[str | None] = mapped_column(String(32))
    asr_confidence: Mapped[float | None]
    transcript: Mapped[str] = mapped_column(Text)  # what was really said
    item_code: Mapped[str | None] = mapped_column(String(32))  # the item it was about; NULL: out of scope
    aspect: Mapped[str | None] = mapped_column(String(16))
    out_of_scope: Mapped[bool] = mapped_column(default=False)
    labelled_by: Mapped[str] = mapped_column(String(64))
    labelled_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(64), default="call")  # call / import:<set name>

    __table_args__ = (Index("ix_speech_labels_labelled_at", "labelled_at"),)
