"""The booking sub-dialog behind the call flow's ``Book`` command: one call's ``BookingDialog``, kept across turns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ivr import flow as F
from ivr.booking.dialog import BookingDialog

# The words that turn "预约" into a look-up or a cancellation; anything else books.
CANCEL_WORDS = ("取消",)
QUERY_WORDS = ("查",)


def guess_intent(text: str) -> str:
    """book / query / cancel, from the sentence that started the booking dialog."""
    if any(w in text for w in CANCEL_WORDS):
        return "cancel"
    if any(w in text for w in QUERY_WORDS):
        return "query"
    return "book"


class BookingBridge:
    """``make_dialog(item_code)`` builds a fresh dialog; its store writes to the database, so the async path runs
    it in a worker thread."""

    def __init__(self, make_dialog: Callable[[str | None], BookingDialog]) -> None:
        self._make = make_dialog
        self.dialog: BookingDialog | None = None

    def handle_sync(self, cmd: F.Book) -> F.BookingReplied:
        if self.dialog is None or cmd.start:
            self.dialog = self._make(cmd.item_code)
            text = cmd.text or ""
            reply = self.dialog.start(guess_intent(text), text)
        elif cmd.dtmf is not None:
            reply = self.dialog.handle_dtmf(cmd.dtmf)
        else:
            reply = self.dialog.handle_text(cmd.text or "")
        booked = self.dialog.intent == "book" and self.dialog.booking is not None
        return F.BookingReplied(reply.say, reply.done, booked, reply.hints)

    async def handle(self, cmd: F.Book) -> F.BookingReplied:
        return await asyncio.get_running_loop().run_in_executor(None, self.handle_sync, cmd)
