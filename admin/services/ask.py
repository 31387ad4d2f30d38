""""What would the IVR answer now?": the real QA engine over the KB as it is in the database right now."""

from __future__ import annotations

from flask import Flask, current_app

from kb.api import Answer
from kb.reloader import KnowledgeReloader

EXTENSION = "hotline_kb"


def init_ask(app: Flask) -> None:
    """One reloader per app, over the app's own database (the IVR runtime holds the same kind)."""
    app.extensions[EXTENSION] = KnowledgeReloader(app.extensions["hotline_sessions"],
                                                  meaning_cache=app.extensions["hotline_settings"].meaning_cache)


def ask(question: str) -> Answer:
    """Answer with the engine for the current KB revision (rebuilt only when the revision moved)."""
    reloader: KnowledgeReloader = current_app.extensions[EXTENSION]
    return reloader.current().answer(question)
