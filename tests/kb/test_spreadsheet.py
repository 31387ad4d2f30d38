"""办事指南 spreadsheets: the cell syntax, export -> import changing nothing, and a broken sheet reported row by row
with the database left as it was. Real openpyxl workbooks, real SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.db import make_engine, make_sessionmaker, session_scope, upgrade
from kb.loader import load_dir
from kb.schema import FORMS, KnowledgeBase, Material
from kb.sheets import (
    BUNDLES,
    DEPARTMENTS,
    ITEMS,
    CellError,
    SpreadsheetError,
    format_faq,
    format_material,
    import_spreadsheet,
    parse_faq,
    parse_material,
    read_spreadsheet,
    rows,
    write_csv,
    write_xlsx,
)
from kb.store import current_revision, import_kb, load_kb

# ---------------------------------------------------------------------------------------------------- cell syntax


def test_material_cells_as_the_guide_writes_them() -> None:
    assert parse_material("居民身份证（原件，1份）") == {
        "name": "居民身份证", "form": "原件", "copies": 1, "required": True, "note": ""}
    assert parse_material("邻居同意养犬证明（原件，1份，非必需：住在多层的提供）") == {
        "name": "邻居同意养犬证明", "form": "原件", "copies": 1, "required": False, "note": "住在多层的提供"}
    assert parse_material("营业执照（副本）（复印件，2份，备注：加盖公章）") == {
        "name": "营业执照（副本）", "form": "复印件", "copies": 2, "required": True, "note": "加盖公章"}
    assert parse_material("委托书（原件，1份，非必需）")["required"] is False
    for bad in ("户口本", "户口本（原件）", "户口本（原件，1份，备注）", "户口本（原件，1份，可选）"):
        with pytest.raises(CellError):
            parse_material(bad)


_TEXT = st.text(alphabet=st.sampled_from("居民身份证明户口本（）()，,：:、 -12"), min_size=1, max_size=12).map(str.strip)


@given(name=_TEXT.filter(bool), form=st.sampled_from(FORMS), copies=st.integers(0, 20), required=st.booleans(),
       note=_TEXT)
def test_material_cell_round_trips_or_refuses(name: str, form: str, copies: int, required: bool, note: str) -> None:
    """Whatever the text, a material is either written as a line that reads back identically, or refused."""
    material = Material(name, form, copies, required, note)
    try:
        line = format_material(material)
    except CellError:
        assert "（" in name + note or "，" in note or "：" in note  # only texts that mimic the syntax
        return
    assert Material(**parse_material(line)) == material


@given(st.lists(st.tuples(_TEXT.filter(bool), _TEXT.filter(bool)), max_size=4))
def test_faq_cell_round_trips(pairs: list[tuple[str, str]]) -> None:
    assert [(f["q"], f["a"]) for f in parse_faq(format_faq(pairs).splitlines())] == pairs


def test_faq_cell_needs_question_and_answer_lines() -> None:
    with pytest.raises(CellError):
        parse_faq(["狗证要钱吗"])
    with pytest.raises(CellError):
        parse_faq(["问：狗证要钱吗"])


# ------------------------------------------------------------------------------------------------- round trips


def _same_kb(a: KnowledgeBase, b: KnowledgeBase) -> None:
    assert a.departments == b.departments
    assert a.bundles == b.bundles


def test_the_packaged_kb_reads_back_unchanged_from_xlsx_and_csv(real_kb: KnowledgeBase, tmp_path: Path) -> None:
    write_xlsx(real_kb, tmp_path / "kb.xlsx")
    write_csv(real_kb, tmp_path / "kb.csv")
    book = openpyxl.load_workbook(tmp_path / "kb.xlsx")
    assert book.sheetnames == [ITEMS, DEPARTMENTS, BUNDLES, "说明"]
    assert "示例数据" in book["说明"]["A1"].value
    header = [c.value for c in book[ITEMS][1]]
    assert header[:4] == ["事项编码", "事项名称", "口语别名", "实施机关"]
    for fmt in ("xlsx", "csv"):
        kb, problems = read_spreadsheet(tmp_path / f"kb.{fmt}", fmt, real_kb)
        assert problems == [], problems[:5]
        _same_kb(kb, real_kb)
        assert kb.centre == real_kb.centre  # never in a spreadsheet: kept
    assert rows(kb) == rows(real_kb)


def test_text_that_looks_like_a_formula_stays_text(real_kb: KnowledgeBase, tmp_path: Path) -> None:
    kb = load_dir_copy(real_kb)
    kb.items()[0].location = "=HYPERLINK(\"http://x\")"
    write_xlsx(kb, tmp_path / "kb.xlsx")
    back, problems = read_spreadsheet(tmp_path / "kb.xlsx", "xlsx", kb)
    assert problems == [] and back.items()[0].location == "=HYPERLINK(\"http://x\")"


def load_dir_copy(kb: KnowledgeBase) -> KnowledgeBase:
    import copy

    return copy.deepcopy(kb)


def test_export_import_into_a_fresh_database_and_again_changes_nothing(
        db_url: str, real_kb: KnowledgeBase, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(db_url))
    with session_scope(factory) as s:
        import_kb(s, real_kb, "t")
    with factory() as s:
        before, revision = load_kb(s), current_revision(s)
    out = io.BytesIO()
    write_xlsx(before, out)

    # The same database: nothing changes, not even the revision.
    with session_scope(factory) as s:
        report = import_spreadsheet(s, out.getvalue(), "xlsx", "t")
    assert (report.added, report.updated, report.removed) == (0, 0, 0)
    with factory() as s:
        after = load_kb(s)
        assert current_revision(s) == revision
    _same_kb(after, before)
    assert after.centre == before.centre

    # A fresh database: the workbook alone rebuilds departments, items and bundles; its export is identical.
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(fresh)
    fresh_factory = make_sessionmaker(make_engine(fresh))
    with session_scope(fresh_factory) as s:
        import_spreadsheet(s, out.getvalue(), "xlsx", "t")
    with fresh_factory() as s:
        rebuilt = load_kb(s)
    _same_kb(rebuilt, before)
    again = io.BytesIO()
    write_xlsx(rebuilt, again)
    assert _cells(again.getvalue()) == _cells(out.getvalue())


def _cells(data: bytes) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


# --------------------------------------------------------------------------------------------- broken sheets


def _broken_workbook(kb: KnowledgeBase) -> tuple[bytes, set[tuple[str, int, str]]]:
    """A workbook with one problem per marked cell; returns it and the (sheet, row, column) expected."""
    out = io.BytesIO()
    write_xlsx(kb, out)
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    sheet = book[ITEMS]
    col = {c.value: c.column for c in sheet[1]}
    codes = [sheet.cell(r, col["事项编码"]).value for r in range(1, sheet.max_row + 1)]
    dog = codes.index("GA-001") + 1
    expected = set()

    def spoil(row: int, column: str, value: object) -> None:
        sheet.cell(row, col[column]).value = value
        expected.add((ITEMS, row, column))

    spoil(2, "法定时限", "二十天")                       # wrong type
    spoil(3, "是否收费", "可以")                         # not 是/否
    spoil(4, "实施机关", "外星局")                       # unknown department
    spoil(5, "事项编码", codes[1])                       # duplicate code (row 2's)
    spoil(6, "申请材料", "居民身份证（原件，1份）\n户口本")  # bad material cell, line 2
    spoil(7, "服务对象", "外星人")                       # not an accepted target
    spoil(8, "常见问题", "问：要钱吗")                   # question without answer
    spoil(9, "送达方式", "飞鸽传书")                     # unknown delivery word
    spoil(10, "容缺后补材料", "不存在的材料")             # later material that is not the item's
    # GA-001's alias on an earlier row: the clash is reported on GA-001's row, naming the earlier item.
    sheet.cell(11, col["口语别名"]).value = sheet.cell(dog, col["口语别名"]).value.splitlines()[0]
    expected.add((ITEMS, dog, "口语别名"))
    spoil(12, "全程网办", 1)                              # a number, not 是/否
    spoil(13, "事项名称", None)                           # empty name
    # A required column missing altogether, and one nobody knows.
    sheet.delete_cols(col["办理地点"])
    sheet.cell(1, sheet.max_column + 1).value = "颜色"
    expected |= {(ITEMS, 1, "办理地点"), (ITEMS, 1, "颜色")}
    bundles = book[BUNDLES]
    bcol = {c.value: c.column for c in bundles[1]}
    bundles.cell(2, bcol["包含事项"]).value = "GA-999"
    bundles.cell(3, bcol["类别"]).value = "生活"
    expected |= {(BUNDLES, 2, "包含事项"), (BUNDLES, 3, "类别")}
    # Row 5 took row 2's code, so the code it had is gone: its bundles report the missing item too.
    lost = codes[4]
    expected |= {(BUNDLES, i + 2, "包含事项") for i, b in enumerate(kb.bundles) if lost in b.items}
    data = io.BytesIO()
    book.save(data)
    return data.getvalue(), expected


def test_every_problem_of_a_broken_workbook_is_named_and_nothing_is_imported(
        db_url: str, real_kb: KnowledgeBase) -> None:
    factory = make_sessionmaker(make_engine(db_url))
    with session_scope(factory) as s:
        import_kb(s, real_kb, "t")
    with factory() as s:
        before, revision = load_kb(s), current_revision(s)
    data, expected = _broken_workbook(before)
    with pytest.raises(SpreadsheetError) as info, session_scope(factory) as s:
        import_spreadsheet(s, data, "xlsx", "t")
    problems = info.value.problems
    assert {(p.sheet, p.row, p.column) for p in problems} == expected, "\n".join(map(str, problems))
    text = "\n".join(map(str, problems))
    assert "事项:2: 法定时限: expected a whole number of working days (0 = 即办), got '二十天'" in text
    assert "事项:6: 申请材料: line 2: '户口本' should look like 居民身份证（原件，1份）" in text
    assert f"事项:5: 事项编码: duplicate code '{before.items()[0].code}', first at row 2" in text
    assert "事项:1: 办理地点: required column is missing" in text
    with factory() as s:
        after = load_kb(s)
        assert current_revision(s) == revision
    _same_kb(after, before)


def test_csv_uses_the_database_departments_and_reads_gb18030(sqlite_url: str, tiny_dir: Path, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    tiny = load_dir(tiny_dir)
    with session_scope(factory) as s:
        import_kb(s, tiny, "t")
    path = tmp_path / "kb.csv"
    write_csv(tiny, path)
    table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    dept = table[0].index("实施机关")
    table[1][table[0].index("办理地点")] = "A区 20号窗口"
    table[1][dept] = "公安"  # short name
    table[2][dept] = "gaj"  # code
    buf = io.StringIO()
    csv.writer(buf).writerows(table)
    with session_scope(factory) as s:
        report = import_spreadsheet(s, buf.getvalue().encode("gb18030"), "csv", "t")
    assert (report.updated, report.added, report.removed) == (1, 0, 0)
    with factory() as s:
        assert load_kb(s).item("GA-001").location == "A区 20号窗口"
        assert load_kb(s).bundles == tiny.bundles  # a CSV has no 一件事 sheet: the bundles stay

    table[2][dept] = "交警"
    buf = io.StringIO()
    csv.writer(buf).writerows(table[:3])
    kb, problems = read_spreadsheet(buf.getvalue().encode(), "csv", tiny)
    assert kb is None and [str(p) for p in problems] == [
        "事项:3: 实施机关: '交警': no such department (give its name, short name or code)"]


def test_not_a_workbook(real_kb: KnowledgeBase) -> None:
    kb, problems = read_spreadsheet(b"PK\x03\x04 not really", "xlsx", real_kb)
    assert kb is None and problems[0].column == "(file)" and "not an xlsx workbook" in problems[0].message


# ---------------------------------------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_export_and_import_spreadsheets(tmp_path: Path, tiny_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_VAR_DIR"] = str(tmp_path / "var")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env,
                              timeout=120, check=False)

    assert run("db", "upgrade").returncode == 0
    assert run("kb", "import", str(tiny_dir)).returncode == 0
    out = run("kb", "export", "--format", "xlsx", str(tmp_path / "kb.xlsx"))
    assert out.returncode == 0, out.stderr
    assert run("kb", "export", "--format", "csv", str(tmp_path / "kb.csv")).returncode == 0
    again = run("kb", "import", str(tmp_path / "kb.xlsx"))
    assert again.returncode == 0 and "0 added, 0 updated, 0 removed" in again.stdout, again.stdout + again.stderr
    broken = (tmp_path / "kb.csv").read_text(encoding="utf-8-sig").replace(",20,", ",二十,", 1)
    (tmp_path / "broken.csv").write_text(broken, encoding="utf-8")
    failed = run("kb", "import", str(tmp_path / "broken.csv"))
    assert failed.returncode == 1 and "nothing imported" in failed.stderr
    assert f"{tmp_path / 'broken.csv'}:事项:2: 法定时限: expected a whole number" in failed.stdout
    assert run("kb", "export", str(tmp_path / "yaml")).returncode == 0  # the YAML export still works
    assert load_dir(tmp_path / "yaml").items() == load_dir(tiny_dir).items()


def test_a_title_row_above_the_header_is_skipped_and_rows_keep_their_numbers(tiny_dir: Path) -> None:
    tiny = load_dir(tiny_dir)
    out = io.BytesIO()
    write_xlsx(tiny, out)
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    sheet = book[ITEMS]
    sheet.insert_rows(1)
    sheet["A1"] = "杭州市某区政务服务事项办事指南（示例数据）"
    data = io.BytesIO()
    book.save(data)
    kb, problems = read_spreadsheet(data.getvalue(), "xlsx", tiny)
    assert problems == [] and kb.items() == tiny.items()
    header = [c.value for c in sheet[2]]
    sheet.cell(4, header.index("法定时限") + 1).value = "十五"
    data = io.BytesIO()
    book.save(data)
    kb, problems = read_spreadsheet(data.getvalue(), "xlsx", tiny)
    assert [str(p) for p in problems] == ["事项:4: 法定时限: expected a whole number of working days (0 = 即办), got '十五'"]
