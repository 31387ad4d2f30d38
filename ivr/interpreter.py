"""The one way flow commands are carried out: a pure interpreter, driven by the call session and the text harness.

The flow (ivr.flow) answers an event with a list of commands. Some commands are questions to the outside world
(``Ask`` → ``Answered``, ``CheckAgents`` → ``AgentStatus``, ``Book`` → ``BookingReplied``); their reply is an
event that goes straight back into the flow, whose new commands run before the rest of the batch. A ``Say`` is
answered with how it played: cut short by the caller (the batch's remaining speech is dropped, listening goes
on) or, when speaking failed, with a ``SpeechFailed`` event for the flow.

``interpret`` is a generator (sans-IO, like h11): it yields each command and is sent its reply, so the same
logic runs under asyncio (``run_async``) and synchronously (``run_sync``) without either copy drifting.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Generator, Iterable

from ivr import flow as F


class Played(enum.Enum):
    """How a ``Say`` went."""

    FINISHED = "finished"
    CUT = "cut"  # the caller talked over it (barge-in): the rest of the batch's speech is dropped


Reply = F.Event | Played | None

# Commands whose reply must be an event for the flow: without one the dialog would stall.
QUESTIONS = (F.Ask, F.CheckAgents, F.Book)


class InterpreterError(RuntimeError):
    """A driver answered a command with a reply of the wrong kind (a bug in the driver)."""


def interpret(flow: F.CallFlow, commands: Iterable[F.Command]) -> Generator[F.Command, Reply, None]:
    """Yield each command of ``commands`` in order and take its reply; events go back into ``flow``."""
    pending = list(commands)
    while pending:
        cmd = pending.pop(0)
        reply = yield cmd
        if isinstance(cmd, QUESTIONS) and not _is_event(reply):
            raise InterpreterError(f"{type(cmd).__name__} needs an event as its reply, got {reply!r}")
        if reply is Played.CUT:
            pending = [c for c in pending if not isinstance(c, F.Say)]
        elif _is_event(reply):
            pending[:0] = flow.handle(reply)


def _is_event(reply: Reply) -> bool:
    return reply is not None and not isinstance(reply, Played)


def run_sync(flow: F.CallFlow, commands: Iterable[F.Command], perform: Callable[[F.Command], Reply]) -> None:
    """Carry out ``commands`` with a synchronous ``perform(command) -> reply``."""
    steps = interpret(flow, commands)
    try:
        cmd = next(steps)
        while True:
            cmd = steps.send(perform(cmd))
    except StopIteration:
        return


async def run_async(flow: F.CallFlow, commands: Iterable[F.Command],
                    perform: Callable[[F.Command], Awaitable[Reply]]) -> None:
    """Carry out ``commands`` with an asynchronous ``perform(command) -> reply``."""
    steps = interpret(flow, commands)
    try:
        cmd = next(steps)
        while True:
            cmd = steps.send(await perform(cmd))
    except StopIteration:
        return
