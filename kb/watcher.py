"""Keep a QA engine in step with the database: rebuild the index when the KB revision changes.

The IVR calls `engine()` per question; at most every ``min_interval_s`` that costs one single-row SELECT, and a
rebuild only happens after an import or an admin edit. The answer path itself never touches the database.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from kb.qa import QAEngine, Thresholds
from kb.store import current_revision, load_kb

log = logging.getLogger(__name__)


class KBWatcher:
    def __init__(
        self, session_factory: sessionmaker[Session], min_interval_s: float = 2.0, thresholds: Thresholds | None = None
    ) -> None:
        self._factory = session_factory
        self._interval = min_interval_s
        self._thresholds = thresholds
        self._lock = threading.Lock()
        self._engine: QAEngine | None = None
        self._checked_at = 0.0

    def engine(self) -> QAEngine:
        """The current engine, rebuilt first if the KB changed since the last check."""
        self.reload_if_changed()
        assert self._engine is not None
        return self._engine

    def reload_if_changed(self, force: bool = False) -> bool:
        """Rebuild when the DB revision differs from the loaded one; True if a rebuild happened."""
        now = time.monotonic()
        if not force and self._engine is not None and now - self._checked_at < self._interval:
            return False
        with self._lock:
            self._checked_at = now
            with self._factory() as session:
                revision = current_revision(session)
                if self._engine is not None and self._engine.revision == revision and not force:
                    return False
                kb = load_kb(session)
            started = time.perf_counter()
            engine = QAEngine.from_kb(kb, self._thresholds)
            log.info("kb index rebuilt: revision %s, %d items, %.0f ms", revision, len(kb.items()),
                     (time.perf_counter() - started) * 1000)
            self._engine = engine  # one reference swap; answers in flight keep the old index
            return True
