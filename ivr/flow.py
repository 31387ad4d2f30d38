"""The whole caller dialog as a declared state machine: typed events in, commands out, no I/O inside.

Read ``TRANSITIONS`` first: it is the dialog graph. Each row names the state, the event type, the handler and
the states the handler may move to (checked at run time, so the table cannot drift from the code).

Work that needs the outside world is asked for with a command and answered with an event, so the flow stays
pure: ``Ask`` → ``Answered`` (knowledge base), ``CheckAgents`` → ``AgentStatus`` (staffed hours, AMI queue),
``Book`` → ``BookingReplied`` (booking sub-dialog).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from hotline.outcomes import Outcome
from ivr import prompts as P
from ivr.errors import IvrError
from ivr.replies import clean, has_any, pick_alternative, spoken_choices, yes_or_no
from kb.api import Alternative, Answer
from speech.vocab import YES_NO


class State(enum.StrEnum):
    GREETING = "greeting"
    LISTENING = "listening"  # waiting for a question or a follow-up
    ANSWERING = "answering"  # waiting for the knowledge base (Ask → Answered)
    CLARIFYING = "clarifying"  # the caller picks one of close items
    CONFIRMING = "confirming"  # "您问的是…吗？": an unsure recognition, or two failed ones
    MENU = "menu"  # DTMF menu after failures
    BOOKING = "booking"  # delegated to the booking sub-dialog
    ESCALATING = "escalating"  # waiting for agent availability (CheckAgents → AgentStatus)
    CALLBACK_OFFER = "callback_offer"
    ENDED = "ended"


# ---- events (facts) -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallStarted:
    staffed: bool


@dataclass(frozen=True)
class Utterance:
    text: str
    confidence: float = 1.0


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Silence:
    """The listen timeout passed without the caller starting to speak."""


@dataclass(frozen=True)
class RecognitionFailed:
    reason: str = ""  # empty transcript, noise, too long


@dataclass(frozen=True)
class SpeechFailed:
    stage: str  # asr / tts / qa / booking
    detail: str = ""
    timeout: bool = False  # the stage hung (no result in time) rather than raised


@dataclass(frozen=True)
class HungUp:
    interrupted: str | None = None  # kind of the Say being played when the caller hung up


@dataclass(frozen=True)
class Timer:
    name: str  # "max_call"


@dataclass(frozen=True)
class Answered:
    question: str
    answer: Answer
    confidence: float = 1.0  # recognition confidence of the question
    confirmed: bool = False  # the caller already confirmed the item


@dataclass(frozen=True)
class AgentStatus:
    staffed: bool
    free: bool | None  # None: unknown (AMI down) — still queue


@dataclass(frozen=True)
class BookingReplied:
    text: str
    done: bool
    booked: bool = False
    hints: tuple[str, ...] = ()  # what the booking step expects next (ivr.booking.dialog.Reply.hints)


Event = (
    CallStarted | Utterance | Dtmf | Silence | RecognitionFailed | SpeechFailed | HungUp | Timer | Answered
    | AgentStatus | BookingReplied
)

# ---- commands (imperatives) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    text: str
    barge_in: bool = True
    kind: str = "prompt"  # prompt / answer


@dataclass(frozen=True)
class Listen:
    timeout_s: float
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ask:
    question: str
    context_item: str | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class CheckAgents:
    reason: str


@dataclass(frozen=True)
class Book:
    text: str | None = None
    dtmf: str | None = None
    item_code: str | None = None
    start: bool = False


@dataclass(frozen=True)
class Transfer:
    reason: str
    context: dict[str, Any]


@dataclass(frozen=True)
class RequestCallback:
    question: str | None
    item_code: str | None


@dataclass(frozen=True)
class Hangup:
    outcome: Outcome


@dataclass(frozen=True)
class Log:
    name: str
    data: dict[str, Any] = field(default_factory=dict)


Command = Say | Listen | Ask | CheckAgents | Book | Transfer | RequestCallback | Hangup | Log

# ---- the graph ------------------------------------------------------------------------------------------------

S = State
_ACTIVE = tuple(s for s in State if s is not S.ENDED)
_TALKING = (S.LISTENING, S.CLARIFYING, S.CONFIRMING, S.MENU, S.BOOKING, S.CALLBACK_OFFER)


@dataclass(frozen=True)
class Transition:
    sources: tuple[State, ...]
    event: type
    handler: str
    targets: frozenset[State]


def _t(sources: State | tuple[State, ...], event: type, handler: str, *targets: State) -> Transition:
    return Transition(sources if isinstance(sources, tuple) else (sources,), event, handler, frozenset(targets))


_QUESTION_TARGETS = (S.ANSWERING, S.BOOKING, S.ESCALATING, S.LISTENING, S.ENDED)

TRANSITIONS: tuple[Transition, ...] = (
    _t(S.GREETING, CallStarted, "greet", S.LISTENING),
    _t((S.LISTENING, S.MENU), Utterance, "question", *_QUESTION_TARGETS),
    _t(S.ANSWERING, Answered, "answered", S.LISTENING, S.CLARIFYING, S.CONFIRMING, S.MENU, S.BOOKING),
    _t(S.CLARIFYING, Utterance, "pick", *_QUESTION_TARGETS),
    _t(S.CONFIRMING, Utterance, "confirm", S.MENU, *_QUESTION_TARGETS),
    _t(S.BOOKING, Utterance, "booking_input", S.ANSWERING, S.BOOKING, S.ESCALATING),
    _t(S.BOOKING, BookingReplied, "booking_reply", S.BOOKING, S.LISTENING),
    _t(S.ESCALATING, AgentStatus, "agents", S.ENDED, S.CALLBACK_OFFER),
    _t(S.CALLBACK_OFFER, Utterance, "callback_answer", S.ENDED, *_QUESTION_TARGETS),
    _t(_TALKING, Dtmf, "dtmf", S.LISTENING, S.ANSWERING, S.MENU, S.BOOKING, S.ESCALATING, S.ENDED),
    _t(_TALKING, Silence, "silence", *_TALKING, S.ENDED),
    _t(_TALKING, RecognitionFailed, "not_recognised", S.LISTENING, S.CONFIRMING, S.MENU, S.BOOKING,
       S.CALLBACK_OFFER),
    _t((S.ANSWERING, S.BOOKING, *_TALKING), SpeechFailed, "speech_failed", S.ESCALATING, S.LISTENING),
    _t(_ACTIVE, HungUp, "hung_up", S.ENDED),
    _t(_ACTIVE, Timer, "time_up", S.ENDED, *_ACTIVE),
)


class FlowError(IvrError):
    """A handler moved to a state its transition row does not declare (a bug in this module)."""


@dataclass(frozen=True)
class FlowOptions:
    listen_timeout_s: float = 8.0
    min_asr_confidence: float = 0.35  # below this a question counts as not understood
    # Between min_asr_confidence and this, the item the KB found is confirmed ("您问的是…吗？") before it is
    # answered: a wrong answer read out costs the caller more than one yes. Tuned on the tuning split of
    # benchmarks/speech_eval_questions.yaml (neutral voice only); see speech/README.md.
    confirm_below: float = 0.6
    # The KB abstained but has a best candidate scoring at least this: confirm it at once ("您问的是…吗？")
    # instead of asking the caller to rephrase first (a value above 1 turns this off). Tuned the same way.
    confirm_abstained_above: float = 0.4
    reprompts: int = 2  # silences re-prompted before the goodbye
    failures_before_help: int = 2  # failed recognitions in a row before confirmation / menu


class CallFlow:
    """One call's dialog. ``handle(event)`` returns the commands to carry out, in order."""

    def __init__(self, options: FlowOptions | None = None) -> None:
        self.options = options or FlowOptions()
        self.state = State.GREETING
        self._table: dict[tuple[State, type], Transition] = {}
        for row in TRANSITIONS:
            for source in row.sources:
                self._table.setdefault((source, row.event), row)
        self.staffed = True
        self.failures = 0
        self.silences = 0
        self.context_item: str | None = None  # previous answer's item: KB context for follow-ups
        self.last_answer: str | None = None
        self.last_prompt: str | None = None
        self.pending_question: str | None = None
        self.candidate: tuple[str, str] | None = None  # (item_code, item_name) to confirm
        self.alternatives: list[Alternative] = []
        self.spoken_names: list[str] = []
        self.first_question: str | None = None
        self.last_question: str | None = None
        self.item_name: str | None = None
        self.department: str | None = None
        self.answers = 0
        self.booked = False
        self.escalated = False
        self.callback = False
        self.escalation_reason: str | None = None

    # ---- driver ----

    def handle(self, event: Event) -> list[Command]:
        row = self._table.get((self.state, type(event)))
        if row is None:
            return []  # e.g. a late DTMF after the call ended: nothing to do
        commands, target = getattr(self, "_on_" + row.handler)(event)
        if target not in row.targets:
            raise FlowError(f"{row.handler}: {self.state} -> {target} is not declared")
        self.state = target
        for cmd in commands:
            if isinstance(cmd, Say) and cmd.kind == "prompt":
                self.last_prompt = cmd.text
        return commands

    @property
    def outcome(self) -> Outcome:
        if self.escalated:
            return Outcome.ESCALATED
        if self.callback:
            return Outcome.CALLBACK_REQUESTED
        if self.booked:
            return Outcome.BOOKED
        if self.answers:
            return Outcome.ANSWERED_BY_IVR
        return Outcome.ABANDONED

    def summary(self) -> dict[str, Any]:
        """What an agent (or the callback task) needs to pick the call up."""
        return {
            "first_question": self.first_question,
            "last_question": self.last_question,
            "item_code": self.context_item or (self.candidate[0] if self.candidate else None),
            "item_name": self.item_name or (self.candidate[1] if self.candidate else None),
            "department": self.department,
            "reason": self.escalation_reason,
        }

    # ---- small helpers ----

    def _listen(self, *hints: str) -> Listen:
        return Listen(self.options.listen_timeout_s, tuple(hints))

    def _ask(self, text: str, *lead: Command) -> tuple[list[Command], State]:
        return [*lead, Say(text), self._listen()], S.LISTENING

    def _escalate(self, reason: str, *lead: Command) -> tuple[list[Command], State]:
        self.escalation_reason = reason
        return [*lead, Log("escalate", {"reason": reason}), CheckAgents(reason)], S.ESCALATING

    def _start_booking(self, text: str | None, item_code: str | None) -> tuple[list[Command], State]:
        return [Log("booking"), Book(text=text, item_code=item_code, start=True)], S.BOOKING

    def _end(self, text: str, outcome: Outcome | None = None) -> tuple[list[Command], State]:
        return [Say(text, barge_in=False), Hangup(outcome or self.outcome)], S.ENDED

    def _failed(self, question: str | None = None) -> tuple[list[Command], State]:
        """One more failed recognition: ask again, then confirm the best guess or offer the menu."""
        self.failures += 1
        if question:
            self.pending_question = question
        if self.failures < self.options.failures_before_help:
            return self._ask(P.NOT_HEARD)
        if self.candidate and self.pending_question:
            return self._confirm(self.pending_question, self.candidate)
        return [Say(P.MENU), self._listen()], S.MENU

    def _confirm(self, question: str, candidate: tuple[str, str]) -> tuple[list[Command], State]:
        self.pending_question, self.candidate = question, candidate
        return [Say(P.CONFIRM.format(item=candidate[1])), self._listen(*YES_NO.phrases)], S.CONFIRMING

    def _repeat(self) -> tuple[list[Command], State]:
        if self.last_answer:
            return [Say(self.last_answer, kind="answer"), Say(P.FOLLOW_UP_SHORT), self._listen()], S.LISTENING
        return self._ask(P.NOTHING_TO_REPEAT)

    # ---- handlers: each returns (commands, next state) ----

    def _on_greet(self, e: CallStarted):
        self.staffed = e.staffed
        return self._ask(P.GREETING_STAFFED if e.staffed else P.GREETING_UNSTAFFED)

    def _on_question(self, e: Utterance):
        self.silences = 0
        text = e.text.strip()
        t = clean(text)
        if not t:
            return self._failed()
        if has_any(t, P.AGENT_WORDS):
            return self._escalate("caller_request")
        if has_any(t, P.CALLBACK_WORDS):
            return self._callback()
        if has_any(t, P.BOOKING_WORDS):
            return self._start_booking(text, self.context_item)
        if self.answers and len(t) <= 8 and has_any(t, P.BYE_WORDS):
            return self._end(P.GOODBYE)
        self.last_question = text
        return [Ask(text, self.context_item)], S.ANSWERING

    def _on_answered(self, e: Answered):
        a = e.answer
        if self.first_question is None:
            self.first_question = e.question
        best = (a.item_code, a.item_name) if a.item_code and a.item_name else None
        if best is None and a.alternatives:
            best = (a.alternatives[0].item_code, a.alternatives[0].item_name)
        heard = e.confirmed or e.confidence >= self.options.min_asr_confidence
        if heard and a.clarify and a.alternatives:  # close items: let the caller choose (before abstention)
            self.failures = 0
            self.alternatives = list(a.alternatives)
            self.spoken_names = spoken_choices(a.answer, len(self.alternatives))
            self.pending_question = e.question
            names = tuple(alt.item_name for alt in self.alternatives)
            return [Say(a.answer), self._listen(*names)], S.CLARIFYING
        if not heard or a.abstained:
            self.candidate = best or self.candidate
            if heard and best and not self.failures and a.confidence >= self.options.confirm_abstained_above:
                return self._confirm(e.question, best)
            return self._failed(e.question)
        if not e.confirmed and e.confidence < self.options.confirm_below and a.item_code and a.item_name:
            return self._confirm(e.question, (a.item_code, a.item_name))  # unsure: confirm, do not guess
        self.failures = 0
        self.candidate = None
        self.context_item = a.item_code or self.context_item
        self.item_name = a.item_name or self.item_name
        self.department = a.department or self.department
        if a.aspect == "booking":
            return self._start_booking(e.question, a.item_code)
        self.last_answer = a.answer
        self.answers += 1
        follow = P.FOLLOW_UP if self.answers == 1 else P.FOLLOW_UP_SHORT
        return [Say(a.answer, kind="answer"), Say(follow), self._listen()], S.LISTENING

    def _on_pick(self, e: Utterance):
        alt = pick_alternative(e.text, self.alternatives, self.spoken_names)
        if alt is None:
            t = clean(e.text)
            if self.pending_question and 0 < len(t) <= 4 and not has_any(t, P.AGENT_WORDS + P.CALLBACK_WORDS):
                # A short reply ("补的") only means something with the question it answers; longer is a new one.
                return self._on_question(Utterance(f"{e.text}，{self.pending_question}", e.confidence))
            return self._on_question(e)
        self.silences = 0
        question = f"{alt.item_name}，{self.pending_question or ''}"
        self.last_question = question
        return [Ask(question, alt.item_code, confirmed=True)], S.ANSWERING

    def _on_confirm(self, e: Utterance):
        yes = yes_or_no(e.text)
        if yes is None:
            return self._on_question(e)
        return self._confirmed(yes)

    def _confirmed(self, yes: bool):
        self.silences = 0
        if yes and self.candidate and self.pending_question:
            code, name = self.candidate
            return [Ask(self.pending_question, code, confirmed=True)], S.ANSWERING
        self.candidate = None
        if self.failures + 1 < self.options.failures_before_help:  # a first, unsure guess denied: ask again
            self.failures += 1
            return self._ask(P.ASK_AGAIN)
        return [Say(P.MENU), self._listen()], S.MENU

    def _on_booking_input(self, e: Utterance):
        self.silences = 0
        if has_any(clean(e.text), P.AGENT_WORDS):
            return self._escalate("caller_request")
        return [Book(text=e.text)], S.BOOKING

    def _on_booking_reply(self, e: BookingReplied):
        self.booked = self.booked or e.booked
        if not e.done:
            return [Say(e.text), self._listen(*e.hints)], S.BOOKING
        return [Say(e.text), Say(P.FOLLOW_UP_SHORT), self._listen()], S.LISTENING

    def _on_agents(self, e: AgentStatus):
        if e.staffed and e.free is not False:
            return self._transfer()
        self.staffed = e.staffed
        offer = P.OFFER_CALLBACK_BUSY if e.staffed else P.OFFER_CALLBACK_UNSTAFFED
        return [Say(offer), self._listen(*YES_NO.phrases)], S.CALLBACK_OFFER

    def _transfer(self, prompt: str = P.TRANSFERRING):
        self.escalated = True
        reason = self.escalation_reason or "caller_request"
        return [Say(prompt, barge_in=False), Transfer(reason, self.summary())], S.ENDED

    def _callback(self):
        self.callback = True
        summary = self.summary()
        question = self.first_question or self.last_question
        return [RequestCallback(question, summary["item_code"]), *self._end(P.CALLBACK_BOOKED)[0]], S.ENDED

    def _on_callback_answer(self, e: Utterance):
        yes = yes_or_no(e.text)
        if yes is None:
            return self._on_question(e)
        if yes:
            return self._callback()
        return self._end(P.CALLBACK_DECLINED)

    def _on_dtmf(self, e: Dtmf):
        d = e.digit
        self.silences = 0
        if d == "0":
            if self.state is S.CALLBACK_OFFER:
                return self._transfer()  # the caller insists: queue (or voicemail when unstaffed)
            return self._escalate("dtmf_0")
        if d == "*":
            self.context_item = None if self.state is S.LISTENING else self.context_item
            self.failures = 0
            return self._ask(P.ASK_AGAIN)
        if self.state is S.CALLBACK_OFFER and d in "12":
            return self._callback() if d == "1" else self._end(P.CALLBACK_DECLINED)
        if self.state is S.BOOKING:
            return [Book(dtmf=d)], S.BOOKING
        if self.state is S.CONFIRMING and d in "12":
            return self._confirmed(d == "1")
        if self.state is S.CLARIFYING and d.isdigit() and 1 <= int(d) <= len(self.alternatives):
            alt = self.alternatives[int(d) - 1]
            return self._on_pick(Utterance(alt.item_name))
        if d == "1":
            return self._repeat()
        if d == "9":
            return self._start_booking(None, self.context_item)
        return [Say(P.MENU), self._listen()], S.MENU

    def _on_silence(self, e: Silence):
        self.silences += 1
        if self.state is S.CALLBACK_OFFER and self.staffed:
            # Nothing said to "回电吗？…继续等待请按0": the caller asked for a person and is waiting for one.
            return self._transfer(P.KEEP_WAITING)
        if self.silences > self.options.reprompts:
            return self._end(P.GOODBYE_SILENCE)
        if self.state in (S.BOOKING, S.CONFIRMING, S.CALLBACK_OFFER, S.CLARIFYING) and self.last_prompt:
            return [Say(self.last_prompt), self._listen()], self.state
        text = P.REPROMPT_1 if self.silences == 1 else P.REPROMPT_2
        return [Say(text), self._listen()], self.state

    def _on_not_recognised(self, e: RecognitionFailed):
        if self.state in (S.BOOKING, S.CALLBACK_OFFER):
            return [Say(P.NOT_HEARD), self._listen()], self.state
        return self._failed()

    def _on_speech_failed(self, e: SpeechFailed):
        if e.stage == "booking":
            return self._ask(P.BOOKING_UNAVAILABLE)
        lead = Say(P.SPEECH_FAILED if self.staffed else P.SPEECH_FAILED_UNSTAFFED, barge_in=False)
        return self._escalate(f"{e.stage}_{'timeout' if e.timeout else 'error'}", lead)

    def _on_hung_up(self, e: HungUp):
        if e.interrupted == "answer" and self.answers:
            self.answers -= 1  # the caller did not hear the answer out
        return [Log("hung_up", {"state": str(self.state), "interrupted": e.interrupted})], S.ENDED

    def _on_time_up(self, e: Timer):
        if e.name != "max_call":
            return [], self.state
        return self._end(P.MAX_CALL)
