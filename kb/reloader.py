"""One QA engine kept in step with the knowledge base in the database, for every reader of it.

The IVR runtime, the admin panel's "what would the IVR answer" page and anything else that answers questions
hold a ``KnowledgeReloader``. Checking costs one single-row SELECT (the KB revision), at most every
``min_interval_s``; a rebuild happens only after an import or an admin edit, and is one reference swap, so
answers in flight keep the engine they started with. An empty database (a fresh install) answers from the
sample files in kb/data until an admin imports the real ones.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from hotline.db import make_engine, make_sessionmaker, session_scope
from kb.api import Answer
from kb.loader import default_data_dir, load_dir
from kb.qa import QAEngine, Thresholds
from kb.schema import Item
from kb.store import current_revision, has_kb, load_kb

log = logging.getLogger(__name__)

SAMPLE_FILES = "sample files"


class KnowledgeReloader:
    def __init__(self, session_factory: sessionmaker[Session], *, min_interval_s: float = 0.0,
                 thresholds: Thresholds | None = None, sample_dir: Path | None = None,
                 meaning_cache: Path | None = None) -> None:
        """``thresholds``: a rule engine with these instead of the learned one (tests of the rules);
        ``meaning_cache``: where the meaning model keeps the passage vectors of a centre's own KB (kb.meaning)."""
        self._factory = session_factory
        self._interval = min_interval_s
        self._thresholds = thresholds
        self._sample_dir = sample_dir
        self._meaning_cache = meaning_cache
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._owns_engine = False
        self.engine: QAEngine | None = None
        self.source = ""  # "database revision N" or "sample files"

    @classmethod
    def from_url(cls, database_url: str, **options: object) -> KnowledgeReloader:
        """A reloader with its own database connection pool (``close`` disposes it)."""
        reloader = cls(make_sessionmaker(make_engine(database_url)), **options)  # type: ignore[arg-type]
        reloader._owns_engine = True
        return reloader

    @property
    def revision(self) -> int | None:
        return self.engine.revision if self.engine is not None else None

    def current(self) -> QAEngine:
        """The engine for the KB as it is now (checked at most every ``min_interval_s``)."""
        self.reload_if_changed()
        assert self.engine is not None
        return self.engine

    def load(self) -> None:
        """Build the first engine (from the database, or the sample files when the database has no KB)."""
        self.reload_if_changed(force=True)

    def reload_if_changed(self, force: bool = False) -> bool:
        """Rebuild when the database revision differs from the loaded one; True if a rebuild happened."""
        now = time.monotonic()
        if not force and self.engine is not None and now - self._checked_at < self._interval:
            return False
        with self._lock:
            self._checked_at = now
            with session_scope(self._factory) as session:
                if not has_kb(session):
                    if self.engine is not None and not force:
                        return False  # still nothing imported: keep answering from what we have
                    log.warning("knowledge base: the database has no items; answering from the sample files")
                    kb, source = load_dir(self._sample_dir or default_data_dir()), SAMPLE_FILES
                else:
                    revision = current_revision(session)
                    if not force and self.source != SAMPLE_FILES and revision == self.revision:
                        return False
                    kb, source = load_kb(session), f"database revision {revision}"
            started = time.perf_counter()
            engine = (QAEngine.from_kb(kb, self._thresholds) if self._thresholds is not None
                      else QAEngine.learned(kb, previous=self.engine, cache_path=self._meaning_cache))
            self.engine, self.source = engine, source  # one reference swap
            log.info("knowledge base loaded: %s, %d items, index built in %.0f ms", source, len(kb.items()),
                     (time.perf_counter() - started) * 1000)
            return True

    # The QA engine's reading interface, on the engine loaded last: the answer path never touches the database
    # (the IVR checks for changes in the background; ``current()`` checks first).

    def _loaded(self) -> QAEngine:
        if self.engine is None:
            self.load()
        assert self.engine is not None
        return self.engine

    def answer(self, question: str, context_item: str | None = None) -> Answer:
        return self._loaded().answer(question, context_item)

    def hotwords(self) -> list[str]:
        return self._loaded().hotwords()

    def item(self, code: str) -> Item | None:
        return self._loaded().item(code)

    def close(self) -> None:
        if self._owns_engine:
            self._factory.kw["bind"].dispose()
