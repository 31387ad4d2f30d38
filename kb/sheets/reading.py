"""Reading a 办事指南 workbook or CSV into a checked KnowledgeBase, and importing it into the database.

Sheets of a workbook: 事项 (the items, required), 部门 (departments) and 一件事 (bundles), both optional — without
them the departments and bundles already in the database stay; a CSV file is the 事项 sheet alone. Centre facts
are never in a spreadsheet and always stay. The spreadsheet is the whole item list: items not in it are removed.

Every row becomes the item's source-file shape; the source files are written in memory and checked with
`kb.loader.validate_texts` (the one validation behind `hotline kb validate`), then every problem is named by
sheet, row and column. Only the cell syntax (kb.sheets.cells) is checked here, because only a spreadsheet has it.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import yaml
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy.orm import Session

from kb.loader import validate_texts
from kb.schema import KnowledgeBase
from kb.sheets.cells import BUNDLES, DEPARTMENTS, ITEMS, SHEET_COLUMNS, TEXT, CellError
from kb.sheets.problems import UNPLACED, ProblemMapper, Row, Sheet, SheetProblem, SpreadsheetError
from kb.store import ImportReport, bundle_to_dict, import_kb, load_kb

MAX_ROWS = 5000  # per sheet: a district centre has ~500 items; more is a wrong file, not a guide
IGNORED_HEADERS = ("序号",)  # the row number column most 办事指南 sheets start with
HEADER_SEARCH = 5  # rows searched for the header (title rows above it are skipped)


class _Reading:
    def __init__(self) -> None:
        self.problems: list[SheetProblem] = []
        self.bad_cells: set[tuple[str, int, str]] = set()

    def cell_problem(self, sheet: str, row: int, column: str, message: str) -> None:
        self.problems.append(SheetProblem(sheet, row, column, message))
        self.bad_cells.add((sheet, row, column))

    def sheet(self, name: str, table: list[tuple[Any, ...]]) -> Sheet:
        columns = SHEET_COLUMNS[name]
        out = Sheet(name, columns)
        # Hand-kept guides often put a title row or two above the header: the header is the first row that
        # names the code column.
        first = columns[0].header
        skip = next((i for i, r in enumerate(table[:HEADER_SEARCH]) if any(_same(c, first) for c in r)), 0)
        rows = iter(table[skip:])
        header = next(rows, None) or ()
        by_header = {c.header: c for c in columns}
        positions: dict[str, int] = {}
        for i, cell in enumerate(header):
            title = str(cell).strip() if cell is not None else ""
            if not title or title in IGNORED_HEADERS:
                continue
            if title not in by_header:
                self.problems.append(SheetProblem(name, skip + 1, title, "unknown column (accepted: "
                                                  f"{', '.join(by_header)})"))
            elif title in positions:
                self.problems.append(SheetProblem(name, skip + 1, title, "column appears twice"))
            else:
                positions[title] = i
        for column in columns:
            if column.required and column.header not in positions:
                self.problems.append(SheetProblem(name, skip + 1, column.header, "required column is missing"))
                out.missing.add(column.header)
        for number, cells in enumerate(rows, skip + 2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue  # blank rows between blocks are common in hand-kept sheets
            if len(out.rows) == MAX_ROWS:
                self.problems.append(SheetProblem(name, number, "(行)", f"more than {MAX_ROWS} rows"))
                break
            raw = {h: cells[i] if i < len(cells) else None for h, i in positions.items()}
            data: dict[str, Any] = {}
            for column in columns:
                value = column.kind.default()
                if column.header in raw:
                    try:
                        value = column.kind.read(raw[column.header])
                    except CellError as exc:
                        where = f"line {exc.line}: " if exc.line else ""
                        self.cell_problem(name, number, column.header, where + str(exc))
                _put(data, column.path, value)
            out.rows.append(Row(number, data, raw))
        return out


def _same(cell: Any, header: str) -> bool:
    return isinstance(cell, str) and cell.strip() == header


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    if not path:
        data[""] = value
        return
    *parents, last = path.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def _dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000, default_flow_style=False)


def _department_lookup(departments: list[dict[str, Any]]) -> dict[str, str | None]:
    """code, full name and short name -> department code (None where two departments share a name)."""
    lookup: dict[str, str | None] = {}
    for dept in departments:
        code = str(dept.get("code", ""))
        for key in {code, str(dept.get("name", "")), str(dept.get("short_name", ""))} - {""}:
            lookup[key] = code if lookup.get(key, code) == code else None
    return lookup


def read_spreadsheet(
    source: str | Path | bytes, fmt: str, current: KnowledgeBase
) -> tuple[KnowledgeBase | None, list[SheetProblem]]:
    """Check a spreadsheet against the KB rules; the KnowledgeBase is None whenever any problem was found.

    ``current`` (the KB in the database) supplies the centre facts, and the departments and bundles when the
    file has no 部门 / 一件事 sheet.
    """
    reading = _Reading()
    try:
        tables = _tables(source, fmt)
    except CellError as exc:
        return None, [SheetProblem(ITEMS, 0, "(file)", str(exc))]
    if ITEMS not in tables:
        return None, [SheetProblem(ITEMS, 0, "(file)", "no sheet of service items found")]
    sheets = {name: reading.sheet(name, table) for name, table in tables.items()}

    if DEPARTMENTS in sheets:
        dept_rows = {}
        for row in sheets[DEPARTMENTS].rows:
            code = row.data["code"]
            if code in dept_rows:
                reading.cell_problem(DEPARTMENTS, row.number, "部门编码",
                                     f"duplicate code {code!r}, first at row {dept_rows[code].number}")
            else:
                dept_rows[code] = row
        departments = [row.data for row in dept_rows.values()]
    else:
        dept_rows = {}
        departments = [{"code": d.code, "name": d.name, "short_name": d.short_name, "phone": d.phone}
                       for d in current.departments]
    lookup = _department_lookup(departments)

    # Department files in memory, each remembering which row every item came from. Rows whose department is
    # unknown are still checked, in a stand-in department whose own fields are not reported.
    items_by_dept: dict[str, list[Row]] = {str(d["code"]): [] for d in departments}
    unplaced: list[Row] = []
    for row in sheets[ITEMS].rows:
        said = TEXT.read(row.data.pop(""))
        code = lookup.get(said) if isinstance(said, str) else None
        if code is None:
            unplaced.append(row)
            if "实施机关" not in sheets[ITEMS].missing:
                known = "two departments have that name" if said in lookup else "no such department"
                reading.cell_problem(ITEMS, row.number, "实施机关",
                                     f"{said!r}: {known} (give its name, short name or code)")
        else:
            items_by_dept[code].append(row)
    texts: dict[str, str | None] = {}
    for dept in departments:
        items = items_by_dept[str(dept["code"])]
        texts[f"departments/{dept['code']}.yaml"] = _dump({"department": dept, "items": [r.data for r in items]})
    if unplaced:
        items_by_dept[UNPLACED] = unplaced
        stand_in = {"code": UNPLACED, "name": UNPLACED, "short_name": UNPLACED, "phone": ""}
        texts[f"departments/{UNPLACED}.yaml"] = _dump({"department": stand_in, "items": [r.data for r in unplaced]})
    if BUNDLES in sheets:
        bundle_rows = sheets[BUNDLES].rows
        texts["bundles.yaml"] = _dump({"bundles": [r.data for r in bundle_rows]})
    else:
        bundle_rows = []
        texts["bundles.yaml"] = _dump({"bundles": [bundle_to_dict(b) for b in current.bundles]})
    texts["centre.yaml"] = _dump(dict(current.centre))

    kb, problems = validate_texts(texts)
    mapper = ProblemMapper(sheets, items_by_dept, dept_rows, bundle_rows, current, texts)
    for problem in problems:
        mapped = mapper(problem)
        if mapped is None:
            continue
        if (mapped.sheet, mapped.row, mapped.column) in reading.bad_cells:
            continue  # the cell syntax problem already says it
        if mapped.sheet in sheets and mapped.column in sheets[mapped.sheet].missing:
            continue  # "required column is missing" already says it
        reading.problems.append(mapped)
    if reading.problems:
        order = {ITEMS: 0, DEPARTMENTS: 1, BUNDLES: 2}
        return None, sorted(set(reading.problems), key=lambda p: (order.get(p.sheet, 3), p.row, _column_rank(p)))
    return kb, []


def _column_rank(p: SheetProblem) -> tuple[int, str]:
    headers = [c.header for c in SHEET_COLUMNS.get(p.sheet, ())]
    return (headers.index(p.column) if p.column in headers else len(headers), p.message)


def _tables(source: str | Path | bytes, fmt: str) -> dict[str, list[tuple[Any, ...]]]:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if fmt == "csv":
        for encoding in ("utf-8-sig", "gb18030"):  # Excel in Chinese saves CSV as GB18030 unless told otherwise
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise CellError("not UTF-8 or GB18030 text")
        return {ITEMS: [tuple(row) for row in csv.reader(io.StringIO(text, newline=""))]}
    if fmt != "xlsx":
        raise CellError(f"unknown format {fmt!r} (xlsx or csv)")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        raise CellError(f"not an xlsx workbook ({exc})") from None
    names = book.sheetnames
    items = ITEMS if ITEMS in names else next((n for n in names if n not in SHEET_COLUMNS and n != "说明"), None)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for name, wanted in ((items, ITEMS), (DEPARTMENTS, DEPARTMENTS), (BUNDLES, BUNDLES)):
        if name in names:
            tables[wanted] = [tuple(r) for r in itertools.islice(book[name].iter_rows(values_only=True), MAX_ROWS + 2)]
    book.close()
    return tables


def load_spreadsheet(source: str | Path | bytes, fmt: str, current: KnowledgeBase) -> KnowledgeBase:
    """The checked KnowledgeBase, or SpreadsheetError listing every problem."""
    kb, problems = read_spreadsheet(source, fmt, current)
    if kb is None:
        raise SpreadsheetError(problems)
    return kb


def import_spreadsheet(session: Session, source: str | Path | bytes, fmt: str, user: str | None = None) -> ImportReport:
    """Make the database KB what the spreadsheet says, in the caller's transaction; SpreadsheetError (and nothing
    written) when any row has a problem."""
    kb = load_spreadsheet(source, fmt, load_kb(session))
    return import_kb(session, kb, user)
