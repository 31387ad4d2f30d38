"""The KB as a spreadsheet (办事指南 in Excel or CSV): one row per item under the usual Chinese column names.

Sheets of a workbook: 事项 (the items, required), 部门 (departments) and 一件事 (bundles), both optional — without
them the departments and bundles already in the database stay; a CSV file is the 事项 sheet alone. Centre facts
are never in a spreadsheet and always stay. The spreadsheet is the whole item list: items not in it are removed.

Reading turns every row into the item's source-file shape, writes the source files in memory and checks them
with `kb.loader.validate_texts` (the one validation behind `hotline kb validate`), then names the sheet, row
and column of every problem. Only the cell syntax below is checked here, because only a spreadsheet has it.

Cell syntax (kb/data/README.md): lists one entry per line; yes/no as 是 / 否 (empty = 否); days as a whole
number of working days; a material as ``居民身份证（原件，1份）``, ``…（复印件，2份，非必需）``,
``…（原件，1份，备注：外地户籍提供）`` or ``…（原件，1份，非必需：住在多层的提供）``; an FAQ as a line
``问：…`` followed by a line ``答：…``; delivery as 窗口领取 / 快递送达 / 双向快递, one per line.
Writing produces exactly this layout, so export -> import changes nothing.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import openpyxl
import yaml
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy.orm import Session

from hotline.errors import HotlineError
from kb.loader import Problem, validate_texts
from kb.schema import FORMS, Bundle, Department, Item, KnowledgeBase, Material
from kb.store import EXPORT_HEADER, ImportReport, bundle_to_dict, import_kb, item_to_dict, load_kb

ITEMS, DEPARTMENTS, BUNDLES = "事项", "部门", "一件事"
FORMATS = ("xlsx", "csv")
MAX_ROWS = 5000  # per sheet: a district centre has ~500 items; more is a wrong file, not a guide
IGNORED_HEADERS = ("序号",)
HEADER_SEARCH = 5  # rows searched for the header (title rows above it are skipped)  # the row number column most 办事指南 sheets start with

YES, NO = "是", "否"
DELIVERY_WORDS = {"window": "窗口领取", "express_one_way": "快递送达", "express_two_way": "双向快递"}
_MATERIAL = re.compile(
    r"^(?P<name>.+)（(?P<form>[^，（）]*)，(?P<copies>[^，（）]*)份(?:，(?P<flag>非必需|备注)(?:：(?P<note>.*))?)?）$"
)
_EXAMPLE = "居民身份证（原件，1份）"
_UNPLACED = "zz_unplaced_rows"  # stand-in department for rows whose 实施机关 is unknown


class CellError(ValueError):
    """A cell that does not follow the spreadsheet syntax; ``line`` is its line within the cell (1-based)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


# ------------------------------------------------------------------------------------------------ cell syntax


def format_material(m: Material) -> str:
    """The cell line for one material; CellError for the rare text the syntax cannot carry back unchanged."""
    extra = ""
    if not m.required:
        extra = "，非必需" + (f"：{m.note}" if m.note else "")
    elif m.note:
        extra = f"，备注：{m.note}"
    text = f"{m.name}（{m.form}，{m.copies}份{extra}）"
    try:
        lossless = Material(**parse_material(text)) == m
    except CellError:
        lossless = False
    if not lossless or "\n" in text:
        raise CellError(f"material {m.name!r} cannot be written as one spreadsheet line: change its name or note")
    return text


def parse_material(text: str) -> dict[str, Any]:
    """One material line in source-file shape; form and copies are left for the loader to check."""
    match = _MATERIAL.match(text)
    if match is None:
        raise CellError(f"{text!r} should look like {_EXAMPLE} (form one of {', '.join(FORMS)})")
    if match["flag"] == "备注" and not match["note"]:
        raise CellError(f"{text!r}: write the remark after 备注：")
    copies = match["copies"].strip()
    return {"name": match["name"].strip(), "form": match["form"].strip(),
            "copies": int(copies) if copies.isdigit() else copies,
            "required": match["flag"] != "非必需", "note": (match["note"] or "").strip()}


def format_faq(pairs: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"问：{q}\n答：{a}" for q, a in pairs)


def parse_faq(lines: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for n, line in enumerate(lines, 1):
        if line.startswith("问："):
            out.append({"q": line[2:].strip(), "a": ""})
        elif line.startswith("答：") and out and not out[-1]["a"]:
            out[-1]["a"] = line[2:].strip()
        else:
            raise CellError(f"{line!r}: each question is a line 问：… followed by its answer 答：…", n)
    for n, pair in enumerate(out, 1):
        if not pair["q"] or not pair["a"]:
            raise CellError(f"question {n} needs both 问：… and 答：…")
    return out


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool | float) or not isinstance(value, str | int):
        raise CellError(f"expected text, one entry per line, got {value!r}")
    return [line.strip() for line in str(value).splitlines() if line.strip()]


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a phone number or code typed as a number
    return value.strip() if isinstance(value, str) else value  # anything else: the loader says what is wrong


def _int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        value = value.strip()
        if value.isdigit():
            return int(value)
        return value or None
    return value


def _bool(value: Any) -> Any:
    if value is None or value == "":
        return False
    if isinstance(value, str):
        return {YES: True, NO: False}.get(value.strip(), value.strip())
    return value


def _delivery(value: Any) -> list[str]:
    codes = {word: code for code, word in DELIVERY_WORDS.items()}
    out = []
    for n, word in enumerate(_lines(value), 1):
        if word not in codes:
            raise CellError(f"{word!r} must be one of {', '.join(DELIVERY_WORDS.values())} (one per line)", n)
        out.append(codes[word])
    return out


def _materials(value: Any) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(_lines(value), 1):
        try:
            out.append(parse_material(line))
        except CellError as exc:
            raise CellError(str(exc), n) from None
    return out


@dataclass(frozen=True)
class Kind:
    """How one kind of cell is read (into source-file shape) and written; ``words`` describes a wrong type."""

    read: Callable[[Any], Any]
    write: Callable[[Any], Any]
    words: str = ""
    default: Callable[[], Any] = str


def _join(values: list[str]) -> str:
    return "\n".join(values)


TEXT = Kind(_text, lambda v: v)
LINES = Kind(_lines, _join, "text, one entry per line", list)
INT = Kind(_int, lambda v: v, "a whole number of working days (0 = 即办)", lambda: None)
BOOL = Kind(_bool, lambda v: YES if v else NO, f"{YES} or {NO}", lambda: False)
MATERIALS = Kind(_materials, lambda ms: _join([format_material(Material(**m)) for m in ms]), "", list)
FAQ = Kind(lambda v: parse_faq(_lines(v)), lambda fs: format_faq((f["q"], f["a"]) for f in fs), "", list)
DELIVERY = Kind(_delivery, lambda codes: _join([DELIVERY_WORDS[c] for c in codes]), "", list)


@dataclass(frozen=True)
class Column:
    header: str
    path: str  # dotted key in the source-file shape ("fee.charged"); "" for the department column
    kind: Kind = TEXT
    required: bool = True  # the column must be present (its cells may still be empty where the rules allow)


ITEM_COLUMNS = (
    Column("事项编码", "code"),
    Column("事项名称", "name"),
    Column("口语别名", "aliases", LINES, required=False),
    Column("实施机关", ""),
    Column("服务对象", "target"),
    Column("受理条件", "conditions", LINES),
    Column("申请材料", "materials", MATERIALS),
    Column("办理流程", "process", LINES),
    Column("法定时限", "legal_days", INT),
    Column("承诺时限", "promised_days", INT),
    Column("是否收费", "fee.charged", BOOL),
    Column("收费标准", "fee.standard"),
    Column("办理地点", "location"),
    Column("办理时间", "hours"),
    Column("咨询电话", "phone"),
    Column("设定依据", "basis", LINES),
    Column("网上办理", "online.web", BOOL),
    Column("掌上办理", "online.mobile", BOOL, required=False),
    Column("网办说明", "online.note", required=False),
    Column("全程网办", "online.full", BOOL, required=False),
    Column("送达方式", "delivery", DELIVERY),
    Column("容缺受理", "tolerance.allowed", BOOL, required=False),
    Column("容缺后补材料", "tolerance.later_materials", LINES, required=False),
    Column("双休日可办", "weekend", BOOL, required=False),
    Column("全城通办", "citywide", BOOL, required=False),
    Column("可预约", "bookable", BOOL, required=False),
    Column("自助机可办", "self_service", BOOL, required=False),
    Column("上门服务", "door_to_door", BOOL, required=False),
    Column("样表下载", "sample_form", BOOL, required=False),
    Column("常见问题", "faq", FAQ, required=False),
)
DEPARTMENT_COLUMNS = (
    Column("部门编码", "code"),
    Column("部门名称", "name"),
    Column("简称", "short_name"),
    Column("咨询电话", "phone", required=False),
)
BUNDLE_COLUMNS = (
    Column("编码", "code"),
    Column("名称", "name"),
    Column("类别", "kind", required=False),
    Column("口语别名", "aliases", LINES, required=False),
    Column("综合窗口", "window"),
    Column("包含事项", "items", LINES),
    Column("说明", "note", required=False),
)
SHEET_COLUMNS = {ITEMS: ITEM_COLUMNS, DEPARTMENTS: DEPARTMENT_COLUMNS, BUNDLES: BUNDLE_COLUMNS}


# ------------------------------------------------------------------------------------------------------ problems


@dataclass(frozen=True, order=True)
class SheetProblem:
    sheet: str
    row: int  # as the spreadsheet program numbers it: 1 is the header; 0 = not a row of this file
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.sheet}:{self.row}" if self.row else self.sheet
        return f"{where}: {self.column}: {self.message}"


class SpreadsheetError(HotlineError):
    """The spreadsheet has problems; ``problems`` lists every one of them and nothing was imported."""

    def __init__(self, problems: list[SheetProblem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"spreadsheet has {len(problems)} problem(s):\n{lines}")


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise HotlineError(f"{path}: a spreadsheet must end in .xlsx or .csv")
    return suffix


# --------------------------------------------------------------------------------------------------- reading


@dataclass
class _Row:
    number: int
    data: dict[str, Any]
    raw: dict[str, Any]  # header -> the cell as read, for messages


@dataclass
class _Sheet:
    name: str
    columns: tuple[Column, ...]
    rows: list[_Row] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # required columns not present


class _Reading:
    def __init__(self) -> None:
        self.problems: list[SheetProblem] = []
        self.bad_cells: set[tuple[str, int, str]] = set()

    def cell_problem(self, sheet: str, row: int, column: str, message: str) -> None:
        self.problems.append(SheetProblem(sheet, row, column, message))
        self.bad_cells.add((sheet, row, column))

    def sheet(self, name: str, table: list[tuple[Any, ...]]) -> _Sheet:
        columns = SHEET_COLUMNS[name]
        out = _Sheet(name, columns)
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
            out.rows.append(_Row(number, data, raw))
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
    items_by_dept: dict[str, list[_Row]] = {str(d["code"]): [] for d in departments}
    unplaced: list[_Row] = []
    for row in sheets[ITEMS].rows:
        said = _text(row.data.pop(""))
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
        items_by_dept[_UNPLACED] = unplaced
        stand_in = {"code": _UNPLACED, "name": _UNPLACED, "short_name": _UNPLACED, "phone": ""}
        texts[f"departments/{_UNPLACED}.yaml"] = _dump({"department": stand_in, "items": [r.data for r in unplaced]})
    if BUNDLES in sheets:
        bundle_rows = sheets[BUNDLES].rows
        texts["bundles.yaml"] = _dump({"bundles": [r.data for r in bundle_rows]})
    else:
        bundle_rows = []
        texts["bundles.yaml"] = _dump({"bundles": [bundle_to_dict(b) for b in current.bundles]})
    texts["centre.yaml"] = _dump(dict(current.centre))

    kb, problems = validate_texts(texts)
    mapper = _ProblemMapper(sheets, items_by_dept, dept_rows, bundle_rows, current, texts)
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


_INDEXED = re.compile(r"^(items|bundles)\[(\d+)\]\.?(.*)$")
_FIRST_AT = re.compile(r"first at (departments/\S+\.yaml|bundles\.yaml):(\d+)$")
_TYPE = re.compile(r"^expected .+, got .+$")


class _ProblemMapper:
    """A loader problem (file, YAML line, field path) -> the sheet, row and column it came from."""

    def __init__(self, sheets: dict[str, _Sheet], items_by_dept: dict[str, list[_Row]], dept_rows: dict[str, _Row],
                 bundle_rows: list[_Row], current: KnowledgeBase, texts: dict[str, str | None]) -> None:
        self.sheets, self.items_by_dept, self.dept_rows = sheets, items_by_dept, dept_rows
        self.bundle_rows, self.current = bundle_rows, current
        # YAML line where each list entry starts, per file: for "first at <file>:<line>" in duplicate messages.
        self.starts = {name: [n for n, line in enumerate((text or "").splitlines(), 1) if line.startswith("- ")]
                       for name, text in texts.items()}

    def row_of(self, file: str, index: int) -> _Row | None:
        rows = self.items_by_dept.get(Path(file).stem, []) if file.startswith("departments/") else self.bundle_rows
        return rows[index] if index < len(rows) else None

    def where(self, file: str, line: int) -> str:
        entries = [n for n in self.starts.get(file, []) if n <= line]
        row = self.row_of(file, len(entries) - 1) if entries else None
        return f"row {row.number}" if row else f"{file}:{line}"

    def __call__(self, p: Problem) -> SheetProblem | None:
        message = _FIRST_AT.sub(lambda m: "first at " + self.where(m[1], int(m[2])), p.message)
        match = _INDEXED.match(p.field)
        if p.file.startswith("departments/") and match and match[1] == "items":
            sheet, columns, row = ITEMS, ITEM_COLUMNS, self.row_of(p.file, int(match[2]))
            rest = match[3]
        elif p.file == "bundles.yaml" and match:
            sheet, columns, row = BUNDLES, BUNDLE_COLUMNS, self.row_of(p.file, int(match[2]))
            rest = match[3]
            if row is None and BUNDLES not in self.sheets:  # a bundle kept from the database
                code = self.current.bundles[int(match[2])].code
                return SheetProblem(BUNDLES, 0, f"{code} {_header(columns, rest)}", message)
        elif p.file == f"departments/{_UNPLACED}.yaml":
            return None  # the stand-in department itself
        elif p.file.startswith("departments/") and p.field.startswith("department"):
            sheet, columns = DEPARTMENTS, DEPARTMENT_COLUMNS
            row, rest = self.dept_rows.get(Path(p.file).stem), p.field.partition(".")[2]
        else:
            return SheetProblem(p.file, 0, p.field, message)
        header = _header(columns, rest)
        sub = re.search(r"^\w+\[\d+\]\.(\w+)$", rest)
        if sub:
            message = f"{sub[1]}: {message}"
        index = re.search(r"^\w+\[(\d+)\]", rest)
        if index and header not in ("申请材料", "常见问题"):
            message += f" (line {int(index[1]) + 1} of the cell)"
        elif index:
            message += f" (entry {int(index[1]) + 1} of the cell)"
        if row is not None and _TYPE.match(message):
            kind = next(c.kind for c in columns if c.header == header)
            if kind.words:
                message = f"expected {kind.words}, got {row.raw.get(header)!r}"
        return SheetProblem(sheet, row.number if row else 0, header, message)


def _header(columns: tuple[Column, ...], rest: str) -> str:
    path = re.sub(r"\[\d+\]", "", rest)
    best = max((c for c in columns if c.path and (path == c.path or path.startswith(c.path + "."))),
               key=lambda c: len(c.path), default=None)
    return best.header if best else "(行)"


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


# --------------------------------------------------------------------------------------------------- writing


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
    [f"申请材料：{_EXAMPLE}；非必需的写 邻居同意养犬证明（原件，1份，非必需：住在多层的提供）；"
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
