"""Writing the KB as a 办事指南 workbook (事项, 部门, 一件事 and a 说明 sheet) or as a CSV of the 事项 sheet alone.

Cells are written in exactly the syntax kb.sheets.cells reads, so export -> import changes nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, BinaryIO

import openpyxl
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from kb.schema import Bundle, Department, Item, KnowledgeBase
from kb.sheets.cells import (
    BUNDLE_COLUMNS,
    BUNDLES,
    DELIVERY_WORDS,
    DEPARTMENT_COLUMNS,
    DEPARTMENTS,
    FAQ,
    ITEM_COLUMNS,
    ITEMS,
    LINES,
    MATERIAL_EXAMPLE,
    MATERIALS,
    NO,
    SHEET_COLUMNS,
    YES,
)
from kb.store import EXPORT_HEADER, bundle_to_dict, item_to_dict


def _item_cells(item: Item, dept: Department) -> list[Any]:
    data = item_to_dict(item)
    cells = []
    for column in ITEM_COLUMNS:
        if not column.path:
            cells.append(dept.name)
            continue
        value: Any = data
        for key in column.path.split("."):
            value = value[key]
        cells.append(column.kind.write(value))
    return cells


def _bundle_cells(bundle: Bundle) -> list[Any]:
    data = bundle_to_dict(bundle)
    return [c.kind.write(data[c.path]) for c in BUNDLE_COLUMNS]


def rows(kb: KnowledgeBase) -> dict[str, list[list[Any]]]:
    """Every sheet as rows of cell values, header first (what the writers write and the tests compare)."""
    return {
        ITEMS: [[c.header for c in ITEM_COLUMNS],
                *(_item_cells(item, dept) for dept in kb.departments for item in dept.items)],
        DEPARTMENTS: [[c.header for c in DEPARTMENT_COLUMNS],
                      *([d.code, d.name, d.short_name, d.phone] for d in kb.departments)],
        BUNDLES: [[c.header for c in BUNDLE_COLUMNS], *(_bundle_cells(b) for b in kb.bundles)],
    }


_NOTES = [
    [EXPORT_HEADER.lstrip("# ").strip()],
    ["多值单元格每行一项：受理条件、办理流程、设定依据、口语别名、容缺后补材料、包含事项。"],
    [f"申请材料：{MATERIAL_EXAMPLE}；非必需的写 邻居同意养犬证明（原件，1份，非必需：住在多层的提供）；"
     "备注写 …（原件，1份，备注：外地户籍提供）。"],
    ["常见问题：一行“问：……”，下一行“答：……”。"],
    [f"是否类的列填“{YES}”或“{NO}”（空 = {NO}）；时限填工作日数（0 = 即办）。"],
    [f"送达方式每行一种：{'、'.join(DELIVERY_WORDS.values())}。实施机关填部门全称、简称或编码。"],
    ["导入时整张表就是全部事项：表中没有的事项会被删除；校验不通过时知识库不做任何修改。"],
]


def write_xlsx(kb: KnowledgeBase, target: str | Path | BinaryIO) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    wrap = Alignment(wrap_text=True, vertical="top")
    for name, table in [*rows(kb).items(), ("说明", _NOTES)]:
        sheet = book.create_sheet(name)
        for values in table:
            sheet.append(values)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text starting with "=" stays text, never a formula
                    cell.alignment = wrap
        if name != "说明":
            sheet.freeze_panes = "A2"
        wide = {i for i, c in enumerate(SHEET_COLUMNS.get(name, ()), 1) if c.kind in (LINES, MATERIALS, FAQ)}
        for i in range(1, len(table[0]) + 1):
            sheet.column_dimensions[get_column_letter(i)].width = 80 if name == "说明" else 36 if i in wide else 14
    book.properties.title = "办事指南（示例数据）"
    book.properties.description = EXPORT_HEADER.lstrip("# ").strip()
    book.save(target)


def write_csv(kb: KnowledgeBase, target: str | Path) -> None:
    """The 事项 sheet alone, UTF-8 with a byte-order mark so Excel opens the Chinese text correctly."""
    with open(target, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows(kb)[ITEMS])


def write_spreadsheet(kb: KnowledgeBase, target: str | Path, fmt: str) -> None:
    (write_xlsx if fmt == "xlsx" else write_csv)(kb, target)
