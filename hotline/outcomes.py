"""How a call ended: shared by the call flow (which imports no database code), the call log and the panel."""

from __future__ import annotations

import enum


class Outcome(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    ANSWERED_BY_IVR = "answered_by_ivr"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"
    CALLBACK_REQUESTED = "callback_requested"
    BOOKED = "booked"
    ERROR = "error"
    # The IVR process died mid-call; Asterisk's dialplan carried the caller on (fallback prompt, queue, voicemail).
    FAILED_OVER = "failed_over"
