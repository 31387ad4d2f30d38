"""Models loaded once per instance, lazily, under a lock: the one block every backend used to repeat.

A backend keeps a `LazyModel` and calls ``get(build)`` wherever it needs the model; ``build`` runs once (the
first caller pays, concurrent callers wait for it) and its import failures become a `ModelUnavailableError`
that names what to install (`need`).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Generic, TypeVar

from speech.api import ModelUnavailableError

T = TypeVar("T")
log = logging.getLogger(__name__)


def need(module: str, what: str, install: str) -> ModuleType:
    """Import ``module`` or raise ModelUnavailableError("<what> needs <missing module>: <install>")."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelUnavailableError(f"{what} needs {exc.name or module}: {install}") from None


class LazyModel(Generic[T]):
    """A value built on first use, once, under ``lock`` (pass the backend's own lock when it guards more)."""

    def __init__(self, name: str, lock: threading.Lock | threading.RLock | None = None) -> None:
        self.name = name  # for the log line
        self.lock = lock or threading.Lock()
        self.value: T | None = None
        self.load_s = 0.0  # how long the build took

    @property
    def loaded(self) -> bool:
        return self.value is not None

    def get(self, build: Callable[[], T], warm: Callable[[T], object] | None = None) -> T:
        """The value, built by the first caller; ``warm`` then runs once, outside the lock, in that caller
        (a first inference that must not hold up other users of the lock). ``load_s`` covers both."""
        if self.value is not None:  # the common case after start-up: no lock
            return self.value
        started = time.perf_counter()
        built = False
        with self.lock:
            if self.value is None:
                self.value = build()
                built = True
        if built:
            if warm is not None:
                warm(self.value)
            self.load_s = time.perf_counter() - started
            log.info("%s loaded in %.2f s", self.name, self.load_s)
        assert self.value is not None
        return self.value
