from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.kb import KBAlias, KBItem, KBMaterial
from hotline.models.users import AuditLog
from kb.loader import load_dir
from kb.store import (
    KBError,
    add_alias,
    add_faq,
    current_revision,
    delete_item,
    export_kb,
    import_kb,
    item_to_dict,
    load_kb,
    save_item,
)
from tests.kb.sources import BUNDLES, DEPT, write_tree


@pytest.fixture
def factory(db_url: str):
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _count(factory, model) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.mark.integration
def test_import_is_idempotent_and_mirrors_the_files(factory, tiny_dir: Path) -> None:
    kb = load_dir(tiny_dir)
    with session_scope(factory) as s:
        first = import_kb(s, kb, user="t")
    assert (first.added, first.updated, first.removed, first.revision) == (1 + 2 + 1 + 4, 0, 0, 1)
    with session_scope(factory) as s:
        again = import_kb(s, kb)
    assert (again.added, again.updated, again.removed, again.unchanged, again.revision) == (0, 0, 0, 3, 1)
    with factory() as s:
        loaded = load_kb(s)
    assert loaded.items() == kb.items()
    assert loaded.bundles == kb.bundles and loaded.centre == kb.centre
    assert loaded.revision == 1

    # An edited file updates one item, and an item gone from the files is removed.
    smaller = load_dir(write_tree(tiny_dir.parent / "v2", dept=DEPT.split('  - code: "GA-006"')[0]
                                  .replace("A区 13-15号窗口", "A区 16号窗口"), bundles=None))
    with session_scope(factory) as s:
        report = import_kb(s, smaller)
    assert (report.updated, report.removed, report.revision) == (1, 2, 2)  # GA-001; GA-006 and the bundle
    with factory() as s:
        assert [i.location for i in load_kb(s).items()] == ["A区 16号窗口"]
    assert _count(factory, KBMaterial) == 2


@pytest.mark.integration
def test_failed_import_leaves_the_database_untouched(factory, tiny_dir: Path) -> None:
    kb = load_dir(tiny_dir)
    with session_scope(factory) as s:
        import_kb(s, kb)
    before_items, before_aliases = _count(factory, KBItem), _count(factory, KBAlias)
    broken = load_dir(tiny_dir)
    broken.item("GA-006").name = "x" * 500  # too long for the column on PostgreSQL; SQLite checks below
    broken.item("GA-001").location = "B区"
    # PostgreSQL rejects the long name half-way through; SQLite accepts it, so fail after the import instead.
    with pytest.raises((RuntimeError, DataError)), session_scope(factory) as s:
        import_kb(s, broken)
        raise RuntimeError("failure at the end of the import transaction")
    with factory() as s:
        assert load_kb(s).item("GA-001").location == "A区 13-15号窗口"
        assert current_revision(s) == 1
    assert (_count(factory, KBItem), _count(factory, KBAlias)) == (before_items, before_aliases)


def test_export_round_trip(sqlite_url: str, tiny_dir: Path, real_kb, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    with session_scope(factory) as s:
        import_kb(s, real_kb)
    with factory() as s:
        from_db = load_kb(s)
    out = tmp_path / "export"
    export_kb(from_db, out)
    again = load_dir(out)
    assert again.items() == real_kb.items()
    assert again.bundles == real_kb.bundles and again.centre == real_kb.centre
    first = {p.name: p.read_text(encoding="utf-8") for p in out.rglob("*.yaml")}
    export_kb(again, tmp_path / "export2")
    second = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "export2").rglob("*.yaml")}
    assert first == second


@pytest.mark.integration
def test_admin_edits_bump_revision_and_audit(factory, tiny_dir: Path) -> None:
    kb = load_dir(tiny_dir)
    with session_scope(factory) as s:
        import_kb(s, kb)
    with session_scope(factory) as s:
        add_alias(s, "GA-001", "养狗证", user="admin")
        add_faq(s, "GA-001", "狗证能邮寄吗", "可以，单程免费寄递。", user="admin")
    with factory() as s:
        item = load_kb(s).item("GA-001")
        assert item.aliases[-1] == "养狗证" and item.faq[-1].q == "狗证能邮寄吗"
        assert current_revision(s) == 3
        assert [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))] == ["kb_alias_add", "kb_faq_add"]
    with pytest.raises(KBError, match="already used by GA-001"), session_scope(factory) as s:
        add_alias(s, "GA-006", "狗证")
    with pytest.raises(KBError, match="does not exist"), session_scope(factory) as s:
        add_alias(s, "GA-404", "随便")

    changed = item_to_dict(kb.item("GA-006"))
    changed["promised_days"] = 3
    changed["aliases"] = ["办居住证", "居住证办理"]
    with session_scope(factory) as s:
        save_item(s, changed, user="admin")
    new = dict(changed, code="GA-020", name="居住证补领", aliases=["居住证丢了"])
    with session_scope(factory) as s:
        save_item(s, new, user="admin", department="gaj")
    with factory() as s:
        loaded = load_kb(s)
        assert loaded.item("GA-006").promised_days == 3
        assert loaded.item("GA-006").aliases == ["办居住证", "居住证办理"]
        assert loaded.item("GA-020").department == "gaj"
        assert current_revision(s) == 5
    bad = dict(changed, target="外星人")
    with pytest.raises(Exception, match="item.target"), session_scope(factory) as s:
        save_item(s, bad, user="admin")
    with session_scope(factory) as s:
        delete_item(s, "GA-020", user="admin")
    with factory() as s:
        assert load_kb(s).item("GA-020") is None


@pytest.mark.integration
def test_service_flags_and_bundle_kind_survive_the_database(factory, tiny_dir: Path, tmp_path: Path) -> None:
    """全程网办, 全城通办, 上门服务, 样表下载 and the bundle kind are stored, loaded and exported (issue 11)."""
    flagged = DEPT.replace("    self_service: false\n", "    self_service: false\n    citywide: true\n"
                           "    door_to_door: true\n    sample_form: true\n", 1)
    flagged = flagged.replace("      note: 浙里办搜索“犬类登记”\n", "      note: 浙里办搜索“犬类登记”\n      full: true\n")
    bundles = BUNDLES.replace("    note: 一次提交", "    kind: 民生\n    note: 一次提交")
    kb = load_dir(write_tree(tmp_path / "flagged", dept=flagged, bundles=bundles))
    dog = kb.item("GA-001")
    assert (dog.citywide, dog.door_to_door, dog.sample_form, dog.online.full) == (True, True, True, True)
    with session_scope(factory) as s:
        import_kb(s, kb)
    with factory() as s:
        loaded = load_kb(s)
    assert loaded.item("GA-001") == dog
    assert (loaded.item("GA-006").citywide, loaded.item("GA-006").online.full) == (False, False)
    assert loaded.bundle("YJS-001").kind == "民生"
    export_kb(loaded, tmp_path / "out")
    again = load_dir(tmp_path / "out")
    assert again.items() == kb.items() and again.bundles == kb.bundles
    # Clearing the flags again is an update, not a no-op.
    with session_scope(factory) as s:
        report = import_kb(s, load_dir(tiny_dir))
    assert report.updated == 2  # GA-001 and the bundle
    with factory() as s:
        assert load_kb(s).item("GA-001").citywide is False and load_kb(s).bundle("YJS-001").kind == ""
