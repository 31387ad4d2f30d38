"""Errors the CLI reports as one clear line (exit 1) rather than a traceback."""


class HotlineError(Exception):
    """Base for expected failures; areas subclass it (KBError, SpeechError wrappers, BookingError...)."""
