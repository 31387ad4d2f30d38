from pathlib import Path

from hotline.db import make_engine, make_sessionmaker, session_scope
from kb.loader import load_dir
from kb.store import add_alias, import_kb
from kb.watcher import KBWatcher


def test_watcher_rebuilds_only_when_the_revision_changes(sqlite_url: str, tiny_dir: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        import_kb(s, load_dir(tiny_dir))
    watcher = KBWatcher(factory, min_interval_s=0)
    first = watcher.engine()
    assert first.answer("阿黄的牌照怎么办").item_code != "GA-001"
    assert not watcher.reload_if_changed()
    assert watcher.engine() is first

    with session_scope(factory) as s:  # the admin "teach" action
        add_alias(s, "GA-001", "阿黄的牌照")
    assert watcher.reload_if_changed()
    second = watcher.engine()
    assert second is not first and second.revision == first.revision + 1
    assert second.answer("阿黄的牌照怎么办").item_code == "GA-001"


def test_watcher_polls_at_most_every_interval(sqlite_url: str, tiny_dir: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        import_kb(s, load_dir(tiny_dir))
    watcher = KBWatcher(factory, min_interval_s=3600)
    engine = watcher.engine()
    with session_scope(factory) as s:
        add_alias(s, "GA-001", "阿黄的牌照")
    assert watcher.engine() is engine  # not checked yet: the interval has not passed
    assert watcher.reload_if_changed(force=True)
