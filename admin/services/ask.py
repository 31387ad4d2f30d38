""""What would the IVR answer now?": the real QA engine over the KB as it is in the database right now."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from hotline.errors import HotlineError
from kb.api import Answer


class AskUnavailable(HotlineError):
    """The question-answering engine is not installed."""


_lock = threading.Lock()
_cache: dict[str, object] = {}  # engine-url -> (revision, QAEngine)


def ask(session: Session, question: str) -> Answer:
    """Answer with an engine built for the current KB revision (rebuilt only when the revision moved)."""
    try:
        from kb.qa import QAEngine
    except ImportError as exc:
        raise AskUnavailable(f"问答引擎不可用：{exc}") from None
    from kb.store import current_revision, load_kb

    key = str(session.get_bind().url)
    revision = current_revision(session)
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached[0] != revision:  # type: ignore[index]
            cached = (revision, QAEngine.from_kb(load_kb(session)))
            _cache[key] = cached
        engine = cached[1]  # type: ignore[index]
    return engine.answer(question)
