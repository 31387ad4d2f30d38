"""The one KB reloader (kb.reloader) that the IVR runtime and the admin panel share."""

from __future__ import annotations

from pathlib import Path

from hotline.db import make_engine, make_sessionmaker, session_scope
from kb.loader import default_data_dir, load_dir
from kb.reloader import SAMPLE_FILES, KnowledgeReloader
from kb.store import add_alias, import_kb


def test_rebuilds_only_when_the_revision_changes(sqlite_url: str, tiny_dir: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        import_kb(s, load_dir(tiny_dir))
    reloader = KnowledgeReloader(factory)
    first = reloader.current()
    assert first.answer("阿黄的牌照怎么办").item_code != "GA-001"
    assert not reloader.reload_if_changed()
    assert reloader.current() is first

    with session_scope(factory) as s:  # the admin "teach" action
        add_alias(s, "GA-001", "阿黄的牌照")
    assert reloader.reload_if_changed()
    second = reloader.current()
    assert second is not first and second.revision == first.revision + 1
    assert second.answer("阿黄的牌照怎么办").item_code == "GA-001"


def test_checks_at_most_every_interval(sqlite_url: str, tiny_dir: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        import_kb(s, load_dir(tiny_dir))
    reloader = KnowledgeReloader(factory, min_interval_s=3600)
    engine = reloader.current()
    with session_scope(factory) as s:
        add_alias(s, "GA-001", "阿黄的牌照")
    assert reloader.current() is engine  # not checked yet: the interval has not passed
    assert reloader.reload_if_changed(force=True)
    assert reloader.current() is not engine


def test_answers_from_the_sample_files_until_the_database_has_a_kb(sqlite_url: str) -> None:
    reloader = KnowledgeReloader.from_url(sqlite_url)
    reloader.load()
    assert reloader.source == SAMPLE_FILES  # empty database: the bundled sample answers meanwhile
    assert reloader.reload_if_changed() is False  # still nothing in the database
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        import_kb(s, load_dir(default_data_dir()), "test")
    assert reloader.reload_if_changed() is True
    assert reloader.source.startswith("database revision")
    assert reloader.reload_if_changed() is False  # same revision: no rebuild
    before = reloader.answer("汪星人上户口怎么弄")
    with session_scope(factory) as s:
        add_alias(s, "GA-001", "汪星人上户口", "test")
    assert reloader.answer("汪星人上户口怎么弄").item_code == before.item_code  # the answer path never checks
    assert reloader.reload_if_changed() is True
    assert before.item_code != "GA-001"
    assert reloader.answer("汪星人上户口怎么弄").item_code == "GA-001"
    reloader.close()
    factory.kw["bind"].dispose()
